"""The jobs the client package's tests run on a real `jobcast up`: the demo's three (report,
bulk, story) and two that end badly on purpose, so every event a socket can get is seen."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel

from jobcast import JobContext, JobFailed, Jobs
from jobcast.demo import BulkIn, ReportIn, StoryIn, build_report, process_items, tell_story

jobs = Jobs()
jobs.job("report", input=ReportIn, cpu_bound=True, attempts=1, timeout=600)(build_report)
jobs.job("bulk", input=BulkIn, attempts=1, timeout=3600)(process_items)
jobs.job("story", input=StoryIn, attempts=1, timeout=3600)(tell_story)


class FailIn(BaseModel):
    reason: str = "the input was odd"


@jobs.job("fail", input=FailIn)
async def fail(ctx: JobContext, data: FailIn) -> None:
    ctx.progress(40, "about to fail")
    raise JobFailed(data.reason)


class FlakyIn(BaseModel):
    gate: str = ""


@jobs.job("flaky", input=FlakyIn, attempts=2, backoff_ms=50, timeout=30)
async def flaky(ctx: JobContext, data: FlakyIn) -> dict[str, int]:
    """Fails its first attempt (a `retrying` event), then succeeds. With ``gate``, the first
    attempt fails only once that file exists (the test has joined by then)."""
    ctx.progress(50)
    if ctx.attempt == 1:
        while data.gate and not Path(data.gate).exists():
            await asyncio.sleep(0.02)
        raise JobFailed("the first attempt fails")
    return {"attempt": ctx.attempt}

"""Jobs the tests run: the demo's two plus a few that misbehave on purpose."""

from __future__ import annotations

import asyncio
import time

from pydantic import BaseModel

from jobcast import JobContext, JobFailed, Jobs
from jobcast.demo import BulkIn, ReportIn, build_report, process_items

jobs = Jobs()
jobs.job("report", input=ReportIn, cpu_bound=True, timeout=600)(build_report)
jobs.job("bulk", input=BulkIn, timeout=3600)(process_items)


class Spin(BaseModel):
    seconds: float = 1.0
    fail: bool = False


@jobs.job("spin", input=Spin, cpu_bound=True, timeout=30)
def spin(ctx: JobContext, data: Spin) -> dict[str, float]:
    """Burn CPU without yielding: in-process, this would block lock renewal."""
    started = time.monotonic()
    x = 0
    while (elapsed := time.monotonic() - started) < data.seconds:
        x += 1
        if x % 200_000 == 0:
            ctx.progress(min(99, 100 * elapsed / data.seconds))
    if data.fail:
        raise RuntimeError("spun out\nwith a second line")
    ctx.progress(100)
    return {"seconds": data.seconds}


class Boom(BaseModel):
    message: str = "the input was odd"
    clean: bool = False


@jobs.job("boom", input=Boom)
async def boom(ctx: JobContext, data: Boom) -> None:
    ctx.progress(10)
    await asyncio.sleep(0.05)
    if data.clean:
        raise JobFailed(data.message)
    raise ValueError(data.message)


class Flood(BaseModel):
    calls: int = 100_000


@jobs.job("flood", input=Flood)
async def flood(ctx: JobContext, data: Flood) -> dict[str, int]:
    """Calls progress() far more often than anyone should."""
    for i in range(1, data.calls + 1):
        ctx.progress(100 * i / data.calls)
        if i % 1000 == 0:
            await asyncio.sleep(0)
    return {"calls": data.calls}

"""The dashboard's test application: jobs that show each thing the dashboard does, and
access hooks that let only admins use it.

- ``steady`` reports progress at a steady pace (its row goes active → completed, live);
- ``flaky`` fails its first attempt and completes when it runs again (retried from the page);
- ``sleepy`` runs until it is stopped, and leaves a mark (``data.marker``, a file) when its
  worker's cancel reaches it;
- ``report`` writes a report section by section: progress with a message, streamed output and
  log lines (the job page shows them arrive), and a ``title`` to search by.

``app`` asks a plain function and ``async_app`` a coroutine (as a session store would) whether
the "user" cookie may look ("dashboard": admin and viewer) and act ("dashboard-action": admin
only). Run as the e2e tests do::

    PYTHONPATH=tests/apps JOBCAST_JOBS=dashboard_app:jobs JOBCAST_DASHBOARD=true \\
        python -m uvicorn dashboard_app:app
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from jobcast import Access, JobContext, JobFailed, Jobs, Settings, create_app

jobs = Jobs()


class Steady(BaseModel):
    steps: int = 20
    step_ms: float = 100


@jobs.job("steady", input=Steady, timeout=600)
async def steady(ctx: JobContext, data: Steady) -> dict[str, int]:
    for i in range(1, data.steps + 1):
        await asyncio.sleep(data.step_ms / 1000)
        ctx.progress(100 * i / data.steps, f"step {i} of {data.steps}")
    return {"steps": data.steps}


class Flaky(BaseModel):
    note: str = ""


@jobs.job("flaky", input=Flaky, attempts=1)
async def flaky(ctx: JobContext, data: Flaky) -> dict[str, int]:
    ctx.log(f"attempt {ctx.attempt}")
    if ctx.attempt == 1:
        raise JobFailed("the first attempt always fails")
    ctx.progress(100, "fine the second time")
    return {"attempt": ctx.attempt}


class Sleepy(BaseModel):
    marker: str
    seconds: float = 120


@jobs.job("sleepy", input=Sleepy, timeout=600)
async def sleepy(ctx: JobContext, data: Sleepy) -> dict[str, bool]:
    ctx.progress(1, "sleeping until someone cancels me")
    try:
        await asyncio.sleep(data.seconds)
    except asyncio.CancelledError:
        Path(data.marker).write_text("the cancel reached the handler")
        raise
    return {"slept": True}


class Report(BaseModel):
    title: str = "Quarterly report"
    sections: int = 6
    section_ms: float = 400
    hold: str | None = None
    """The last section waits for sign-off: a file named after this in the temporary directory
    (``signed_off``), so a test can look at the job running, then let it go on."""


def signed_off(hold: str) -> Path:
    return Path(tempfile.gettempdir()) / f"jobcast-dashboard-sign-off-{hold}"


SECTIONS = ["Summary", "Revenue", "Costs", "Customers", "Risks", "Outlook", "Appendix"]


@jobs.job("report", input=Report, timeout=600)
async def report(ctx: JobContext, data: Report) -> dict[str, object]:
    ctx.log(f"building {data.title!r}: {data.sections} sections")
    for i in range(1, data.sections + 1):
        section = SECTIONS[(i - 1) % len(SECTIONS)]
        if i == data.sections and data.hold is not None:  # the last one waits for sign-off
            ctx.progress(100 * (i - 1) / data.sections, "waiting for sign-off")
            while not signed_off(data.hold).exists():
                await asyncio.sleep(0.05)
        ctx.progress(100 * (i - 0.5) / data.sections, f"writing {section.lower()}")
        text = f"## {i}. {section}\n{section} of {data.title}: all in order.\n\n"
        for word in re.findall(r"\S+\s*", text):  # a word at a time, as a model writes
            ctx.write(word)
            await asyncio.sleep(data.section_ms / 1000 / 10)
        ctx.log(f"section {i} ({section}) done")
    return {"title": data.title, "sections": data.sections}


ROLES = {"admin": {"dashboard", "dashboard-action"}, "viewer": {"dashboard"}}


def may(access: Access) -> bool:
    if access.action.startswith("dashboard"):
        return access.action in ROLES.get(access.client.cookies.get("user", ""), set())
    return True


async def may_slowly(access: Access) -> bool:
    await asyncio.sleep(0.02)
    return may(access)


def __getattr__(name: str) -> Any:
    """``app`` and ``async_app``, made when uvicorn asks for one (importing ``jobs`` alone,
    as a worker or a seeding script does, needs no REDIS_URL)."""
    hooks = {"app": may, "async_app": may_slowly}
    if name not in hooks:
        raise AttributeError(name)
    return create_app(jobs, Settings.load(), authorize=hooks[name])

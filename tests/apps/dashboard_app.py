"""The dashboard's test application: jobs that show each thing the dashboard does, and
access hooks that let only admins use it.

- ``steady`` reports progress at a steady pace (its row goes active → completed, live);
- ``flaky`` fails its first attempt and completes when it runs again (retried from the page);
- ``sleepy`` runs until it is stopped, and leaves a mark (``data.marker``, a file) when its
  worker's cancel reaches it.

``app`` asks a plain function and ``async_app`` a coroutine (as a session store would) whether
the "user" cookie may look ("dashboard": admin and viewer) and act ("dashboard-action": admin
only). Run as the e2e tests do::

    PYTHONPATH=tests/apps JOBCAST_JOBS=dashboard_app:jobs JOBCAST_DASHBOARD=true \\
        python -m uvicorn dashboard_app:app
"""

from __future__ import annotations

import asyncio
from pathlib import Path

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


ROLES = {"admin": {"dashboard", "dashboard-action"}, "viewer": {"dashboard"}}


def may(access: Access) -> bool:
    if access.action.startswith("dashboard"):
        return access.action in ROLES.get(access.client.cookies.get("user", ""), set())
    return True


async def may_slowly(access: Access) -> bool:
    await asyncio.sleep(0.02)
    return may(access)


app = create_app(jobs, Settings.load(), authorize=may)
async_app = create_app(jobs, Settings.load(), authorize=may_slowly)

"""Jobs the tests run: the demo's three, a few that misbehave on purpose, and writers of
streamed output in each of the three ways a handler runs (async, thread, process)."""

from __future__ import annotations

import asyncio
import time

from pydantic import BaseModel

from jobcast import JobContext, JobFailed, Jobs
from jobcast.demo import BulkIn, ReportIn, StoryIn, build_report, process_items, tell_story

jobs = Jobs()
jobs.job("report", input=ReportIn, cpu_bound=True, timeout=600)(build_report)
jobs.job("bulk", input=BulkIn, timeout=3600)(process_items)
jobs.job("story", input=StoryIn, timeout=3600)(tell_story)


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


class Write(BaseModel):
    count: int = 1000
    """Writes of token(i): "<i>," (``size`` 0) or ``size`` copies of one letter."""
    size: int = 0
    lines: int = 0
    """Log lines, one every count/lines writes."""
    pause_every: int = 0
    pause_ms: float = 0
    fail: bool = False


def token(i: int, size: int) -> str:
    return f"{i}," if size == 0 else "abcdefghijklmnopqrstuvwxyz"[i % 26] * size


def expected_output(data: dict[str, int]) -> str:
    spec = Write(**data)
    return "".join(token(i, spec.size) for i in range(spec.count))


def _writes(ctx: JobContext, data: Write, i: int) -> None:
    ctx.write(token(i, data.size))
    if data.lines and i % max(1, data.count // data.lines) == 0:
        ctx.log(f"line {i}")
    ctx.progress(100 * (i + 1) / data.count, f"write {i + 1} of {data.count}")


@jobs.job("writer", input=Write, timeout=600)
async def writer(ctx: JobContext, data: Write) -> dict[str, int]:
    for i in range(data.count):
        _writes(ctx, data, i)
        if data.pause_every and (i + 1) % data.pause_every == 0:
            await asyncio.sleep(data.pause_ms / 1000)
        elif i % 1000 == 999:
            await asyncio.sleep(0)
    if data.fail:
        raise RuntimeError("wrote, then failed")
    return {"count": data.count}


def sync_writer(ctx: JobContext, data: Write) -> dict[str, int]:
    """The plain-def writer, run both in a thread and in a cpu_bound child process."""
    for i in range(data.count):
        _writes(ctx, data, i)
        if data.pause_every and (i + 1) % data.pause_every == 0:
            time.sleep(data.pause_ms / 1000)
    return {"count": data.count}


jobs.job("thread_writer", input=Write, timeout=600)(sync_writer)
jobs.job("cpu_writer", input=Write, cpu_bound=True, timeout=600)(sync_writer)


class Steady(BaseModel):
    steps: int = 20
    step_ms: float = 100


@jobs.job("steady", input=Steady, timeout=600)
async def steady(ctx: JobContext, data: Steady) -> dict[str, int]:
    """Progress at a steady pace: its time left should be told right."""
    for i in range(1, data.steps + 1):
        await asyncio.sleep(data.step_ms / 1000)
        ctx.progress(100 * i / data.steps)
    return {"steps": data.steps}


class Big(BaseModel):
    size: int = 900_000


@jobs.job("cpu_big", input=Big, cpu_bound=True, timeout=60)
def cpu_big(ctx: JobContext, data: Big) -> dict[str, str]:
    """A result far bigger than a pipe's buffer: it reaches the worker in pieces."""
    return {"blob": "x" * data.size}

"""Jobs for the fault, abuse and access tests: the sample jobs plus a few that the test steers.

Load it with ``JOBCAST_JOBS=fault_jobs:jobs`` (tests/ is on PYTHONPATH). The jobs leave
traces in a folder the test passes in (``dir``), so a test can await what a job did instead
of guessing with sleeps:

- ``gate``: notes each run in ``<dir>/runs``, reports ``progress``, then waits until the test
  creates ``<dir>/open``; if it is stopped (cancelled, handed back) it writes ``<dir>/stopped``.
- ``flaky``: fails its first ``fail_times`` attempts (attempts=3, backoff 100 ms); with
  ``dir``, its first attempt waits for ``<dir>/open``.
- ``cpu_hang`` / ``cpu_long``: cpu_bound, write their child's pid to ``<dir>/pid`` and spin
  (``cpu_hang`` has a 3 s timeout, ``cpu_long`` a long one, for cancels).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from pydantic import BaseModel, Field

import sample_jobs
from jobcast import JobContext, Jobs

jobs = Jobs()
for _spec in sample_jobs.jobs:  # report, bulk, spin, boom, flood: the same handlers and options
    jobs.job(_spec.name, input=_spec.input, cpu_bound=_spec.cpu_bound, attempts=_spec.attempts,
             backoff_ms=_spec.backoff_ms, timeout=_spec.timeout,
             concurrency=_spec.concurrency)(_spec.handler)


class GateIn(BaseModel):
    dir: str = Field(min_length=1, max_length=500)
    progress: float = Field(default=10, ge=0, le=99)


@jobs.job("gate", input=GateIn, timeout=120)
async def gate(ctx: JobContext, data: GateIn) -> dict[str, object]:
    """Runs until the test opens the gate; every run and every stop leaves a trace."""
    folder = Path(data.dir)
    with (folder / "runs").open("a") as runs:
        runs.write(f"{ctx.attempt} {os.getpid()}\n")
    ctx.progress(data.progress)
    try:
        while not (folder / "open").exists():
            if ctx.cancelled:
                (folder / "stopped").write_text("cancelled flag seen")
                raise asyncio.CancelledError
            await asyncio.sleep(0.02)
    except asyncio.CancelledError:
        if not (folder / "stopped").exists():
            (folder / "stopped").write_text("task cancelled")
        raise
    ctx.progress(100)
    return {"opened": True, "attempt": ctx.attempt}


class FlakyIn(BaseModel):
    fail_times: int = Field(default=1, ge=0, le=10)
    dir: str | None = Field(default=None, max_length=500)
    """If given, the first attempt waits for ``<dir>/open`` (so the test can join first)."""


@jobs.job("flaky", input=FlakyIn, attempts=3, backoff_ms=100, timeout=30)
async def flaky(ctx: JobContext, data: FlakyIn) -> dict[str, int]:
    """Fails (with a two-line message) on attempts 1..fail_times, then succeeds."""
    ctx.progress(50)
    while data.dir and ctx.attempt == 1 and not Path(data.dir, "open").exists():
        await asyncio.sleep(0.02)
    if ctx.attempt <= data.fail_times:
        raise ValueError(f"attempt {ctx.attempt} failed\nsecond line of the message")
    ctx.progress(100)
    return {"attempt": ctx.attempt}


class HangIn(BaseModel):
    dir: str = Field(min_length=1, max_length=500)
    seconds: float = Field(default=60, gt=0, le=120)


def _spin_with_pid(ctx: JobContext, data: HangIn) -> dict[str, float]:
    Path(data.dir, "pid").write_text(str(os.getpid()))
    started = time.monotonic()
    x = 0
    while time.monotonic() - started < data.seconds:  # bounded, should the stop ever fail
        x += 1
        if x % 500_000 == 0:
            ctx.progress(min(99, 100 * (time.monotonic() - started) / data.seconds))
    return {"seconds": data.seconds}


@jobs.job("cpu_silent", input=HangIn, cpu_bound=True, timeout=120)
def cpu_silent(ctx: JobContext, data: HangIn) -> dict[str, float]:
    """Spins without ever reporting progress: nothing tells it its parent is gone."""
    Path(data.dir, "pid").write_text(str(os.getpid()))
    started = time.monotonic()
    while time.monotonic() - started < data.seconds:
        pass
    return {"seconds": data.seconds}


@jobs.job("cpu_hang", input=HangIn, cpu_bound=True, timeout=3)
def cpu_hang(ctx: JobContext, data: HangIn) -> dict[str, float]:
    return _spin_with_pid(ctx, data)


@jobs.job("cpu_long", input=HangIn, cpu_bound=True, timeout=120)
def cpu_long(ctx: JobContext, data: HangIn) -> dict[str, float]:
    return _spin_with_pid(ctx, data)


class NapIn(BaseModel):
    dir: str = Field(min_length=1, max_length=500)
    seconds: float = Field(default=2, gt=0, le=60)
    name: str = Field(default="nap", max_length=50)


@jobs.job("nap", input=NapIn, timeout=60)
def nap(ctx: JobContext, data: NapIn) -> dict[str, str]:
    """A plain def (a thread): notes when it starts and ends; stops early when cancelled."""
    folder = Path(data.dir)
    with (folder / "starts").open("a") as starts:
        starts.write(f"{data.name}\n")
    deadline = time.monotonic() + data.seconds
    while time.monotonic() < deadline:
        if ctx.cancelled:
            (folder / f"{data.name}.cancelled").write_text("cancelled flag seen")
            return {"stopped": data.name}
        time.sleep(0.01)
    with (folder / "ends").open("a") as ends:
        ends.write(f"{data.name}\n")
    return {"slept": data.name}


@jobs.job("stubborn", input=NapIn, timeout=1)
def stubborn(ctx: JobContext, data: NapIn) -> dict[str, str]:
    """A plain def that outlives its 1 s timeout and ignores cancels (Python cannot stop it)."""
    with Path(data.dir, "starts").open("a") as starts:
        starts.write(f"{data.name}\n")
    time.sleep(data.seconds)
    return {"slept": data.name}


class ResultIn(BaseModel):
    kind: str = "big"
    size: int = 0


@jobs.job("result", input=ResultIn)
async def result(ctx: JobContext, data: ResultIn) -> object:
    """Returns results that are hard to store: large, unserialisable, or rich Python values."""
    import dataclasses
    import datetime
    import uuid

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    if data.kind == "big":
        return {"blob": "x" * data.size}
    if data.kind == "object":
        return {"thing": object()}
    return {"when": datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC),
            "id": uuid.UUID("12345678-1234-5678-1234-567812345678"), "nan": float("nan"),
            "point": Point(1, 2)}


@jobs.job("poison", timeout=60)
async def poison(ctx: JobContext, data: dict[str, object]) -> None:
    """Kills the worker process that runs it, every time (as an out-of-memory kill would)."""
    with Path(str(data["dir"]), "runs").open("a") as runs:
        runs.write(f"{ctx.attempt} {os.getpid()}\n")
    os.kill(os.getpid(), 9)


@jobs.job("filejob")
async def filejob(ctx: JobContext, data: dict[str, object]) -> dict[str, str]:
    """Writes a small result file, as the report job writes its PDF."""
    ctx.result_path(".txt").write_text(f"result of {ctx.job_id}")
    return {"url": f"/api/jobs/{ctx.job_id}/result"}

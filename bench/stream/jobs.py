"""The streaming benchmark's jobs: each writes ``chunks`` chunks of ``size`` bytes as fast as it
can (or ``every_ms`` apart, like a model's tokens), each chunk starting with the wall-clock time
it was written, so a watcher can tell each chunk's latency from write to socket."""

from __future__ import annotations

import asyncio
import time

from pydantic import BaseModel, Field

from jobcast import JobContext, Jobs

jobs = Jobs()


class StreamIn(BaseModel):
    chunks: int = Field(ge=1, le=1_000_000)
    size: int = Field(default=24, ge=20, le=65_536)
    every_ms: float = Field(default=0, ge=0)
    start_at: float = 0
    """Epoch seconds: wait until then (the watchers have joined by then)."""
    paced: bool = False
    """With every_ms: chunk i is due at start + i * every_ms (a steady rate however long each
    sleep really takes); every chunk already due is written at once."""


def chunk(size: int) -> str:
    stamp = f"{time.time():.6f}"
    return stamp + "x" * (size - len(stamp) - 1) + ";"


@jobs.job("stream", input=StreamIn, attempts=1, timeout=3600)
async def stream(ctx: JobContext, data: StreamIn) -> dict[str, int]:
    await asyncio.sleep(max(0.0, data.start_at - time.time()))
    if data.paced and data.every_ms:
        every, start, i = data.every_ms / 1000, time.time(), 0
        while i < data.chunks:
            delay = start + i * every - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            due = min(data.chunks, max(i + 1, int((time.time() - start) / every) + 1))
            while i < due:
                ctx.write(chunk(data.size))
                i += 1
        return {"chunks": data.chunks}
    for i in range(data.chunks):
        ctx.write(chunk(data.size))
        if data.every_ms:
            await asyncio.sleep(data.every_ms / 1000)
        elif i % 200 == 199:
            await asyncio.sleep(0)  # as fast as it can, but the worker's loop still breathes
    return {"chunks": data.chunks}


def stream_sync(ctx: JobContext, data: StreamIn) -> dict[str, int]:
    """The plain-def writer, run both in a thread and in a cpu_bound child process."""
    time.sleep(max(0.0, data.start_at - time.time()))
    for _ in range(data.chunks):
        ctx.write(chunk(data.size))
        if data.every_ms:
            time.sleep(data.every_ms / 1000)
    return {"chunks": data.chunks}


jobs.job("stream_thread", input=StreamIn, attempts=1, timeout=3600)(stream_sync)
jobs.job("stream_cpu", input=StreamIn, cpu_bound=True, attempts=1, timeout=3600)(stream_sync)

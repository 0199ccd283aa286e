"""How a running handler reaches back to the worker: its output, its job log, and a flow
parent's children's results — from the event loop, from a thread, and from a cpu_bound child."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

from ..output import StreamWriter

Children = Callable[[], Awaitable[tuple[dict[str, Any], dict[str, str]]]]


class LoopLinks:
    """For async handlers: batched writers and awaitables, on the loop."""

    def __init__(self, output: StreamWriter, logs: StreamWriter, children: Children) -> None:
        self.output = output
        self.logs = logs
        self._children = children

    def write(self, text: str) -> None:
        self.output.write(text)

    def log(self, line: str) -> None:
        self.logs.write(line)

    async def children_values(self) -> dict[str, Any]:
        return (await self._children())[0]

    async def failed_children(self) -> dict[str, str]:
        return (await self._children())[1]

    async def drain(self) -> None:
        """Everything written so far is in Redis (before the job's end is recorded)."""
        await asyncio.gather(self.output.drain(), self.logs.drain())


class ThreadLinks:
    """For plain def handlers: the same, hopping to the loop (and waiting for answers)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, links: LoopLinks) -> None:
        self._loop = loop
        self._links = links

    def write(self, text: str) -> None:
        self._loop.call_soon_threadsafe(self._links.write, text)

    def log(self, line: str) -> None:
        self._loop.call_soon_threadsafe(self._links.log, line)

    def children_values(self) -> dict[str, Any]:
        return asyncio.run_coroutine_threadsafe(self._links.children_values(), self._loop).result()

    def failed_children(self) -> dict[str, str]:
        return asyncio.run_coroutine_threadsafe(self._links.failed_children(), self._loop).result()


class ChildLinks:
    """For cpu_bound handlers, in their own process: output and log lines over the pipe (output
    gathered for an interval, so a token-per-call handler is not a pipe message per token),
    children's results read before the process started."""

    def __init__(self, conn: Connection, children: dict[str, Any] | None,
                 failed: dict[str, str] | None, interval: float) -> None:
        self._conn = conn
        self._children = children or {}
        self._failed = failed or {}
        self._interval = interval
        self._pending: list[str] = []
        self._size = 0
        self._since = time.monotonic()

    def write(self, text: str) -> None:
        self._pending.append(text)
        self._size += len(text)
        now = time.monotonic()
        if self._size >= 1 << 14 or now - self._since >= self._interval:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if self._pending:
            self._conn.send(("output", "".join(self._pending)))
            self._pending, self._size = [], 0
        self._since = now or time.monotonic()

    def log(self, line: str) -> None:
        self._conn.send(("log", line))

    def children_values(self) -> dict[str, Any]:
        return dict(self._children)

    def failed_children(self) -> dict[str, str]:
        return dict(self._failed)

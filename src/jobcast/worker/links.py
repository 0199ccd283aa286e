"""How a running handler reaches back to the worker: its job log, and a flow parent's
children's results — from the event loop, from a thread, and from a cpu_bound child."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger("jobcast.worker")

Children = Callable[[], Awaitable[tuple[dict[str, Any], dict[str, str]]]]


class JobLog:
    """A job's log lines, written in batches: all the lines of one loop turn go in one round
    trip, in order, so a chatty handler does not cost a Redis call per line."""

    def __init__(self, send: Callable[[list[str]], Awaitable[None]]) -> None:
        self._send = send
        self._lines: list[str] = []
        self._flushing: asyncio.Task[None] | None = None

    def write(self, line: str) -> None:
        """Must be called on the event loop's thread."""
        self._lines.append(line)
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        try:
            while self._lines:
                lines, self._lines = self._lines, []
                try:
                    await self._send(lines)
                except Exception as err:  # a lost log line is not worth failing the job
                    log.warning("job log: %d line(s) not written: %s", len(lines), err)
        finally:
            self._flushing = None

    async def drain(self) -> None:
        """Wait until every line written so far is in Redis."""
        while self._flushing is not None:
            await asyncio.shield(self._flushing)


class LoopLinks:
    """For async handlers: awaitables, on the loop."""

    def __init__(self, joblog: JobLog, children: Children) -> None:
        self._log = joblog
        self._children = children

    def log(self, line: str) -> None:
        self._log.write(line)

    async def children_values(self) -> dict[str, Any]:
        return (await self._children())[0]

    async def failed_children(self) -> dict[str, str]:
        return (await self._children())[1]


class ThreadLinks:
    """For plain def handlers: the same, hopping to the loop and waiting for the answer."""

    def __init__(self, loop: asyncio.AbstractEventLoop, links: LoopLinks) -> None:
        self._loop = loop
        self._links = links

    def log(self, line: str) -> None:
        self._loop.call_soon_threadsafe(self._links.log, line)

    def children_values(self) -> dict[str, Any]:
        return asyncio.run_coroutine_threadsafe(self._links.children_values(), self._loop).result()

    def failed_children(self) -> dict[str, str]:
        return asyncio.run_coroutine_threadsafe(self._links.failed_children(), self._loop).result()


class ChildLinks:
    """For cpu_bound handlers, in their own process: log lines over the pipe, children's
    results read before the process started."""

    def __init__(self, conn: Connection, children: dict[str, Any] | None,
                 failed: dict[str, str] | None) -> None:
        self._conn = conn
        self._children = children or {}
        self._failed = failed or {}

    def log(self, line: str) -> None:
        self._conn.send(("log", line))

    def children_values(self) -> dict[str, Any]:
        return dict(self._children)

    def failed_children(self) -> dict[str, str]:
        return dict(self._failed)

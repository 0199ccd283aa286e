"""A running job's writes, batched: ``ctx.write`` many times a millisecond becomes one entry
per interval (output) or one round trip per interval (log lines), in order, never lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("jobcast.worker")

Append = Callable[[list[str]], Awaitable[str | None]]
"""Writes entries; returns None, or which bound stopped it."""


class StreamWriter:
    """Example usage::

        output = StreamWriter(append, interval=0.05, join=True)    # chunks of text
        logs = StreamWriter(append, interval=0.05, join=False)     # one entry per line
        output.write("tok")                                        # on the loop's thread
        await output.drain()                                        # before the job ends
    """

    RETRY_FOR_S = 10.0
    """How long entries wait for a Redis that refuses them before they are dropped (logged)."""

    def __init__(self, append: Append, interval: float, *, join: bool,
                 max_pending: int = 1 << 16) -> None:
        self._append = append
        self._interval = interval
        self._join = join
        self._max_pending = max_pending
        self._pending: list[str] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self.overflowed: str | None = None
        """Set (to the bound, described) once a write passed one of the job's bounds."""
        self.on_overflow: Callable[[str], None] | None = None

    def write(self, text: str) -> None:
        """Must be called on the event loop's thread."""
        if not text or self.overflowed is not None:
            return
        self._pending.append(text)
        self._size += len(text)
        if self._size >= self._max_pending:
            self._start_flush()
        elif self._timer is None and self._flushing is None:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self._start_flush)

    def _start_flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is None and self._pending:
            self._flushing = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        failing_since: float | None = None
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch = ["".join(self._pending)] if self._join else list(self._pending)
                self._pending, self._size = [], 0
                try:
                    stopped = await self._append(batch)
                except Exception as err:  # noqa: BLE001 - kept for the next round, a while
                    failing_since = failing_since or loop.time()
                    if loop.time() - failing_since > self.RETRY_FOR_S:
                        log.error("job output: %d entries dropped: %s", len(batch), err)
                        continue
                    log.warning("job output: %d entries not written yet: %s", len(batch), err)
                    self._pending[:0] = batch
                    await asyncio.sleep(max(self._interval, 0.1))
                    continue
                failing_since = None
                if stopped is not None:
                    self.overflowed = stopped
                    self._pending.clear()
                    if self.on_overflow is not None:
                        self.on_overflow(stopped)
        finally:
            self._flushing = None

    async def drain(self) -> None:
        """Everything written so far is stored (or refused by the bound)."""
        self._start_flush()
        while self._flushing is not None:
            await asyncio.shield(self._flushing)
            self._start_flush()

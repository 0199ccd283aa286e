"""Progress coalescing: a job may call progress() thousands of times a second.

At most one value per interval is forwarded, values only go up, and ``finish()`` hands over the
last one, which goes out with the completion. Floods would otherwise cost a Redis script call and a
Socket.IO message each, and push terminal events out of the trimmed event stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class ProgressCoalescer:
    """Forwards progress to ``send`` at most once per ``interval`` seconds (trailing edge)."""

    def __init__(self, send: Callable[[float], Awaitable[None]], interval: float) -> None:
        self._send = send
        self._interval = interval
        self._highest = -1.0
        self._pending: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._inflight: asyncio.Task[None] | None = None
        self._closed = False

    def report(self, value: float) -> None:
        """Record a value (already checked); must be called on the event loop's thread."""
        if self._closed or value <= self._highest:
            return
        self._highest = value
        self._pending = value
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is None and self._inflight is None and not self._closed:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self._fire)

    def _fire(self) -> None:
        self._timer = None
        if self._pending is not None and not self._closed:
            value, self._pending = self._pending, None
            self._inflight = asyncio.ensure_future(self._deliver(value))

    async def _deliver(self, value: float) -> None:
        try:
            await self._send(value)
        except Exception as err:  # a lost update is not fatal: finish() hands it over
            log.warning("progress update failed: %s", err)
            if self._pending is None:
                self._pending = value
        finally:
            self._inflight = None
            if self._pending is not None:
                self._schedule()

    async def finish(self) -> float | None:
        """Stop; wait for an update in flight; return the last value not yet sent, if any.

        The caller sends that value together with the job's completion, in one round trip.
        """
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._inflight is not None:
            await asyncio.shield(self._inflight)
        value, self._pending = self._pending, None
        return value

    def discard(self) -> None:
        """The job ended without completing: drop what is pending, send nothing more."""
        self._closed = True
        self._pending = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

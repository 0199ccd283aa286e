"""Progress coalescing: a job may call progress() thousands of times a second.

At most one value per interval is forwarded, values only go up, and ``finish()`` hands over the
last one, which goes out with the completion. Floods would otherwise cost a Redis script call and a
Socket.IO message each, and push terminal events out of the trimmed event stream.

An interval of 0 turns coalescing off: every new value goes out at once, several in flight
together (pipelined on the worker's connection, in order), none merged into the next.

Each value travels with the handler's message, if any, and the time left, estimated from the
job's own pace since its first report (``Eta``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

log = logging.getLogger(__name__)


class Progress(NamedTuple):
    value: float
    message: str | None = None
    eta: float | None = None

    def stored(self) -> Any:
        """What BullMQ stores as the job's progress: the number, or an object with the
        message and time left when there are any (BullMQ allows either)."""
        if self.message is None and self.eta is None:
            return self.value
        out: dict[str, Any] = {"percent": self.value}
        if self.message is not None:
            out["message"] = self.message
        if self.eta is not None:
            out["eta"] = self.eta
        return out


class Eta:
    """Time left, from the job's own pace since its first report (None while unknown)."""

    MIN_ELAPSED_S = 0.3

    def __init__(self) -> None:
        self._start: tuple[float, float] | None = None

    def __call__(self, value: float, now: float) -> float | None:
        if self._start is None:
            self._start = (now, value)
            return None
        started, first = self._start
        elapsed, done = now - started, value - first
        if elapsed < self.MIN_ELAPSED_S or done <= 0:
            return None
        return round(max(0.0, (100 - value) * elapsed / done), 1)


class ProgressCoalescer:
    """Forwards progress to ``send`` at most once per ``interval`` seconds (trailing edge)."""

    def __init__(self, send: Callable[[Progress], Awaitable[None]], interval: float) -> None:
        self._send = send
        self._interval = interval
        self._highest = -1.0
        self._message: str | None = None
        self._pending: Progress | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._inflight: asyncio.Task[None] | None = None
        self._closed = False
        self._eta = Eta()
        self._sending: set[asyncio.Future[None]] = set()
        """Interval 0: the updates in flight (in order on one connection)."""

    def report(self, value: float, message: str | None = None) -> None:
        """Record a value (already checked); must be called on the event loop's thread. The
        same value with a new message is news too."""
        if self._closed or value < self._highest or (
                value == self._highest and message == self._message):
            return
        self._highest, self._message = value, message
        eta = self._eta(value, time.monotonic())
        self._pending = Progress(value, message, 0.0 if value >= 100 else eta)
        if self._interval <= 0:
            value_now, self._pending = self._pending, None
            sending = asyncio.ensure_future(self._send(value_now))  # a future stays itself
            self._sending.add(sending)
            sending.add_done_callback(self._sent)
            return
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is None and self._inflight is None and not self._closed:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self._fire)

    def _fire(self) -> None:
        self._timer = None
        if self._pending is not None and not self._closed:
            value, self._pending = self._pending, None
            self._inflight = asyncio.ensure_future(self._deliver(value))

    async def _deliver(self, value: Progress) -> None:
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

    def _sent(self, sending: asyncio.Future[None]) -> None:
        self._sending.discard(sending)
        if not sending.cancelled() and (err := sending.exception()) is not None:
            log.warning("progress update failed: %s", err)  # not fatal: the end says 100

    async def finish(self) -> Progress | None:
        """Stop; wait for an update in flight; return the last value not yet sent, if any.

        The caller sends that value together with the job's completion, in one round trip.
        """
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._inflight is not None:
            await asyncio.shield(self._inflight)
        if self._sending:  # its updates are stored before its end is
            await asyncio.gather(*self._sending, return_exceptions=True)
        value, self._pending = self._pending, None
        return value

    def discard(self) -> None:
        """The job ended without completing: drop what is pending, send nothing more."""
        self._closed = True
        self._pending = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

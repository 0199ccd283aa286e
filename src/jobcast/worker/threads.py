"""Plain ``def`` handlers run in threads of their own, as many as the settings allow.

asyncio's default pool (cores + 4 threads) would cap them below ``JOBCAST_CONCURRENCY``, and a
handler that outlives its job (timed out or cancelled: Python cannot stop a thread) would keep
a pool thread for ever, so the next job "timed out" without starting. Here every handler gets a
daemon thread; the ones still running after their job ended are counted against the limit, and
none of them can hold up the process's exit.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("jobcast.worker")


class HandlerThreads:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._live = 0
        self._free: asyncio.Condition | None = None
        self.abandoned = 0
        """Threads still running although their job has ended (timed out or cancelled)."""

    @property
    def live(self) -> int:
        return self._live

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` in a new thread and return its result.

        Cancelling this coroutine abandons the thread (it runs on, counted, until it returns).
        """
        loop = asyncio.get_running_loop()
        if self._free is None:
            self._free = asyncio.Condition()
        async with self._free:
            if self._live >= self.limit:
                log.warning("all %d handler threads are busy (%d of them with jobs that already "
                            "ended); waiting for one", self.limit, self.abandoned)
            await self._free.wait_for(lambda: self._live < self.limit)
            self._live += 1
        result: asyncio.Future[Any] = loop.create_future()
        state = {"abandoned": False}

        def settle(ok: bool, value: Any) -> None:
            if state["abandoned"]:
                self.abandoned -= 1
            self._live -= 1
            loop.create_task(self._notify())
            if not result.done():
                (result.set_result if ok else result.set_exception)(value)

        def body() -> None:
            try:
                outcome = (True, fn(*args))
            except BaseException as err:  # noqa: BLE001 - handed to the awaiting job
                outcome = (False, err)
            try:
                loop.call_soon_threadsafe(settle, *outcome)
            except RuntimeError:  # the loop has closed: the worker is exiting
                pass

        threading.Thread(target=body, name="jobcast-handler", daemon=True).start()
        try:
            return await asyncio.shield(result)
        except asyncio.CancelledError:
            if not result.done():
                state["abandoned"] = True
                self.abandoned += 1
            raise

    async def _notify(self) -> None:
        assert self._free is not None
        async with self._free:
            self._free.notify()

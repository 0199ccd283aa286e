"""Watching a job, over either transport: Socket.IO sockets and Server-Sent-Event streams.

Both share one ledger and one relay, so an SSE stream gets exactly what a socket gets: the
stored output it lacks, the snapshot, then live events, each once, nothing before access is
decided. A watcher is a ledger "socket" either way; deliveries to a stream's id go to its
queue instead of Engine.IO.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..bridge import Delivery, JoinRefused, Ledger, Relay
from ..errors import QueueUnavailable
from ..output import Entry
from ..queue import JobQueue
from ..settings import Settings
from ..status import JobStatus
from .access import Access, AccessPolicy, Caller
from .tokens import BadToken

log = logging.getLogger("jobcast.web")

UNAVAILABLE = "service unavailable, try again"
STREAM_PREFIX = "sse:"


def seen(output: Any, log_line: Any) -> dict[str, int]:
    """What a watcher says it already has: the last output chunk's and log line's seq (-1:
    none). Anything else than such an int counts as none."""
    def checked(value: Any) -> int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= -1
        return value if ok else -1
    return {"output": checked(output), "log": checked(log_line)}


class _Serial:
    """A lock and how many joins use it (it goes when the last one is done)."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


async def _nowhere(_: Delivery) -> None:
    """Where socket deliveries go until the Socket.IO server plugs itself in."""


class Watchers:
    """Example usage::

        watchers = Watchers(queue, settings, policy)
        watchers.to_socket = socket_server.send         # Socket.IO deliveries
        sid = watchers.open_stream(client, inbox.put_nowait)   # an SSE stream
        ack = await watchers.join(sid, client, job_id, {"output": -1, "log": -1})
    """

    def __init__(self, queue: JobQueue, settings: Settings, policy: AccessPolicy) -> None:
        self.queue = queue
        self.policy = policy
        self.ledger = Ledger(settings.rooms_per_socket,
                             name_of=lambda queue_name: queue.job_name(queue_name, None))
        self.relay = Relay(self.ledger, queue, self.send)
        self.to_socket: Callable[[Delivery], Awaitable[None]] = _nowhere
        self._streams: dict[str, Callable[[Delivery], None]] = {}
        self._numbers = itertools.count(1)
        self._joining: dict[tuple[str, str], _Serial] = {}

    async def send(self, delivery: Delivery) -> None:
        stream = self._streams.get(delivery.eio_sid)
        if stream is not None:
            stream(delivery)
        else:
            await self.to_socket(delivery)

    @property
    def stream_count(self) -> int:
        return len(self._streams)

    @property
    def socket_count(self) -> int:
        return self.ledger.socket_count - len(self._streams)

    def open_stream(self, client: Caller, deliver: Callable[[Delivery], None]) -> str:
        """A watcher that is not a socket: its deliveries go to ``deliver``."""
        sid = f"{STREAM_PREFIX}{next(self._numbers)}"
        self.ledger.connect(sid, sid, client)
        self._streams[sid] = deliver
        return sid

    def close_stream(self, sid: str) -> None:
        self._streams.pop(sid, None)
        self.ledger.disconnect(sid)

    async def join(self, sid: str, client: Caller, job_id: str, after: dict[str, int],
                   token: str | None = None, job: str | None = None) -> dict[str, Any]:
        """Watch a job: the ack ``{ok, state, output, logs}`` (or ``{ok: False, error}``).

        One join of a job at a time per watcher: a repeated join waits for the first, so it
        can never release events the first one is still holding back.
        """
        key = (sid, job_id)
        entry = self._joining.setdefault(key, _Serial())
        entry.users += 1
        try:
            async with entry.lock:
                return await self._join(sid, client, job_id, after, token, job)
        finally:
            entry.users -= 1
            if not entry.users:
                del self._joining[key]

    async def _join(self, sid: str, client: Caller, job_id: str, after: dict[str, int],
                    token: str | None, job: str | None) -> dict[str, Any]:
        # Enter the room first, then read the state: an event published in between is held
        # (not lost) until the watcher is allowed to see the job.
        try:
            self.ledger.begin_join(sid, job_id, after)
        except JoinRefused as err:
            return {"ok": False, "error": str(err)}
        status, found, error = None, None, "unknown job"
        entries: dict[str, list[Entry]] = {}
        try:
            found = await self.queue.status(job_id, job)
            if found is not None and await self.policy.permits(
                    Access("join", found.job, job_id, client, token=token), found.owner):
                status = found
                entries = await self._stored_entries(status, after)
        except QueueUnavailable:
            status, error = None, UNAVAILABLE
        except BadToken as err:
            status, error = None, str(err)
        except Exception:  # a failing access hook refuses; it never lets anyone in
            log.exception("access check failed for job %s", job_id)
        if self.ledger.book(sid) is None:
            return {"ok": False, "error": "disconnected"}
        # An id no job has yet (a Node producer may add it a moment later) can be watched when
        # the app has no access hooks; with hooks, nobody can vouch for it: refused.
        unknown = found is None and error != UNAVAILABLE and not self.policy.checks \
            and token is None
        queue = self.queue.queue_of(status) if status is not None else None
        await self.relay.deliver(self.ledger.finish_join(sid, job_id, status, queue, unknown,
                                                         entries))
        if unknown:
            return {"ok": True, "state": "unknown", "output": 0, "logs": 0}
        if status is None:
            if error == UNAVAILABLE:
                return {"ok": False, "error": error, "retry": True}
            return {"ok": False, "error": error}
        return {"ok": True, "state": status.state.value, "output": status.output_count,
                "logs": status.log_count}

    async def _stored_entries(self, status: JobStatus,
                              after: dict[str, int]) -> dict[str, list[Entry]]:
        """The stored output and log the watcher does not have (nothing read when there is
        none: most jobs write none)."""
        entries: dict[str, list[Entry]] = {}
        for kind, count in (("output", status.output_count), ("log", status.log_count)):
            if count > after[kind] + 1:
                entries[kind], _ = await self.queue.entries(status, kind, after[kind])
        return entries

"""Socket.IO rooms named by job id, fed by the event-stream bridge.

Two sources reach a socket for a job: the snapshot read when it joins, and the live events
from the stream. They race, so this module keeps, per socket and job, what was already sent:
each socket gets each job's terminal event exactly once, and progress never goes down.
Rooms are local to this process; every web process reads every event and emits only to its
own sockets, so nothing is sent twice.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson
import socketio

from .access import Access, AccessPolicy, Client
from .errors import QueueUnavailable
from .events import QueueEvent
from .ids import is_job_id
from .keys import event_name
from .queue import JobQueue
from .settings import Settings
from .status import CANCELLED_REASON, JobState, JobStatus

log = logging.getLogger("jobcast.realtime")

UNAVAILABLE = "service unavailable, try again"
_FINISHED_MEMORY = 1000
"""Per socket, how many finished jobs to remember (so a second join doesn't resend)."""


class _OrjsonCodec:
    """python-socketio's JSON hook: orjson is several times faster than json."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        return orjson.loads(text)


def _origin_check(allowed: list[str]) -> Any:
    """Allow the configured origins and, always, the web's own (so its demo page connects)."""
    allowed_set = {o.rstrip("/") for o in allowed}

    def check(origin: str | None, environ: dict[str, Any]) -> bool:
        if origin is None:
            return True  # not a browser: nothing to protect against
        host = environ.get("HTTP_X_FORWARDED_HOST") or environ.get("HTTP_HOST", "")
        scheme = environ.get("HTTP_X_FORWARDED_PROTO") or environ.get("wsgi.url_scheme", "http")
        own = f"{scheme.split(',')[0].strip()}://{host.split(',')[0].strip()}"
        return origin.rstrip("/") in allowed_set or origin == own

    return check


@dataclass
class _SocketState:
    client: Client
    eio_sid: str
    progress: dict[str, float] = field(default_factory=dict)
    """Jobs this socket watches, with the highest progress sent to it."""
    pending: dict[str, list[QueueEvent]] = field(default_factory=dict)
    """Jobs it asked to join and is not yet allowed to see: their live events wait here."""
    finished: OrderedDict[str, None] = field(default_factory=OrderedDict)
    """Jobs whose terminal event this socket already got."""


class Realtime:
    """The Socket.IO server and the bridge's emitting side."""

    def __init__(self, queue: JobQueue, settings: Settings, policy: AccessPolicy) -> None:
        self.queue = queue
        self.settings = settings
        self.policy = policy
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins=_origin_check(settings.origins) if settings.origins else None,
            json=_OrjsonCodec,
            ping_interval=25,
            ping_timeout=20,
        )
        self._sockets: dict[str, _SocketState] = {}
        self._watchers: dict[str, set[str]] = {}
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("joinRoom", self._on_join)
        self.sio.on("leaveRoom", self._on_leave)
        self.sio.on("cancel", self._on_cancel)

    @property
    def socket_count(self) -> int:
        return len(self._sockets)

    @property
    def room_count(self) -> int:
        return len(self._watchers)

    # -- client → server -------------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        self._sockets[sid] = _SocketState(Client.from_environ(environ), eio_sid)

    async def _on_disconnect(self, sid: str, *_: Any) -> None:
        state = self._sockets.pop(sid, None)
        if state is not None:
            for job_id in state.progress:
                self._unwatch(sid, job_id)

    async def _on_join(self, sid: str, job_id: Any = None, *_: Any) -> dict[str, Any]:
        state = self._sockets.get(sid)
        if state is None:
            return {"ok": False, "error": "not connected"}
        if not is_job_id(job_id):
            return {"ok": False, "error": "invalid job id"}
        if job_id not in state.progress and len(state.progress) >= self.settings.rooms_per_socket:
            return {"ok": False, "error": f"too many rooms (at most {self.settings.rooms_per_socket})"}
        # Enter the room first, then read the state: an event published in between is held
        # (not lost) until the socket is allowed to see the job, and the ledger keeps the
        # snapshot and the live event from both arriving.
        joining = job_id not in state.progress
        if joining:
            state.pending[job_id] = []
            self._watch(sid, job_id)
        allowed, status, error = False, None, "unknown job"
        try:
            status = await self.queue.status(job_id)
            allowed = status is not None and await self.policy.permits(
                Access("join", status.job, job_id, state.client), status.owner)
        except QueueUnavailable:
            error = UNAVAILABLE
        except Exception:  # a failing access hook refuses; it never lets anyone in
            log.exception("access check failed for job %s", job_id)
        held = state.pending.pop(job_id, [])
        if self._sockets.get(sid) is not state:
            return {"ok": False, "error": "disconnected"}
        if not allowed or status is None:
            if joining:
                state.progress.pop(job_id, None)
                self._unwatch(sid, job_id)
            if error == UNAVAILABLE:
                return {"ok": False, "error": error, "retry": True}
            return {"ok": False, "error": error}
        await self._send_snapshot(sid, state, status)
        for event in held:
            await self._deliver(sid, state, event)
        return {"ok": True, "state": status.state.value}

    async def _on_leave(self, sid: str, job_id: Any = None, *_: Any) -> dict[str, Any]:
        state = self._sockets.get(sid)
        if state is not None and isinstance(job_id, str) and job_id in state.progress:
            del state.progress[job_id]
            self._unwatch(sid, job_id)
        return {"ok": True}

    async def _on_cancel(self, sid: str, job_id: Any = None, *_: Any) -> dict[str, Any]:
        state = self._sockets.get(sid)
        if state is None or not is_job_id(job_id):
            return {"ok": False, "error": "invalid job id"}
        try:
            status = await self.queue.status(job_id)
            if status is None or not await self.policy.permits(
                Access("cancel", status.job, job_id, state.client), status.owner
            ):
                return {"ok": False, "error": "unknown job"}
            status = await self.queue.cancel(job_id)
        except QueueUnavailable:
            return {"ok": False, "error": UNAVAILABLE, "retry": True}
        return {"ok": True, "state": status.state.value if status else "unknown"}

    # -- room bookkeeping ------------------------------------------------------------------

    def _watch(self, sid: str, job_id: str) -> None:
        state = self._sockets[sid]
        state.progress.setdefault(job_id, -1.0)
        self._watchers.setdefault(job_id, set()).add(sid)

    def _unwatch(self, sid: str, job_id: str) -> None:
        sids = self._watchers.get(job_id)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                del self._watchers[job_id]

    # -- server → client -------------------------------------------------------------------

    async def _send_snapshot(self, sid: str, state: _SocketState, status: JobStatus) -> None:
        if status.state is JobState.COMPLETED:
            await self._send_terminal(sid, status.job_id, status.job, "completed",
                                      {"jobId": status.job_id, "result": status.result})
        elif status.state.is_terminal:
            await self._send_terminal(sid, status.job_id, status.job, "failed",
                                      {"jobId": status.job_id,
                                       "reason": status.reason or CANCELLED_REASON})
        else:
            await self._send_progress(sid, state, status.job_id, status.job, status.progress)

    async def _send_progress(
        self, sid: str, state: _SocketState, job_id: str, job: str, progress: float
    ) -> None:
        sent = state.progress.get(job_id)
        if sent is None or progress <= sent and sent >= 0:
            return  # not watching any more, or it would go backwards
        state.progress[job_id] = progress
        await self._emit(state, event_name(job, "progress"), {"jobId": job_id, "progress": progress})

    async def _send_terminal(
        self, sid: str, job_id: str, job: str, kind: str, payload: dict[str, Any]
    ) -> None:
        state = self._sockets.get(sid)
        if state is None:
            return
        state.progress.pop(job_id, None)  # the socket leaves the room after the end
        self._unwatch(sid, job_id)
        if job_id in state.finished:
            return  # it got this job's end already (from the snapshot, or live)
        state.finished[job_id] = None
        if len(state.finished) > _FINISHED_MEMORY:
            state.finished.popitem(last=False)
        await self._emit(state, event_name(job, kind), payload)

    async def _emit(self, state: _SocketState, event: str, payload: dict[str, Any]) -> None:
        """One Socket.IO EVENT packet to one socket.

        Encoded here ("2" + JSON: an EVENT on the default namespace, Socket.IO protocol v5)
        and handed to Engine.IO directly: python-socketio's emit() spawns a task per
        recipient, which is most of the cost of a message when there is one recipient.
        """
        await self.sio.eio.send(state.eio_sid, "2" + orjson.dumps([event, payload]).decode())

    async def on_events(self, batch: list[QueueEvent]) -> None:
        """The bridge: forward a batch of stream events to the sockets watching those jobs."""
        for event in batch:
            sids = self._watchers.get(event.job_id)
            if not sids:
                continue
            if event.kind in ("delayed", "waiting"):
                if event.kind == "delayed" or event.fields.get("prev") in ("failed", "active"):
                    await self._send_retrying(event, list(sids))
                continue
            for sid in list(sids):
                state = self._sockets.get(sid)
                if state is None:
                    continue
                held = state.pending.get(event.job_id)
                if held is not None:
                    held.append(event)  # not allowed to see it yet: decided on its join
                else:
                    await self._deliver(sid, state, event)

    async def _deliver(self, sid: str, state: _SocketState, event: QueueEvent) -> None:
        if event.kind == "progress":
            progress = event.progress
            if progress is not None:
                await self._send_progress(sid, state, event.job_id, event.queue, progress)
        elif event.kind == "completed":
            await self._send_terminal(sid, event.job_id, event.queue, "completed",
                                      {"jobId": event.job_id, "result": event.result})
        elif event.kind == "failed":
            await self._send_terminal(sid, event.job_id, event.queue, "failed",
                                      {"jobId": event.job_id, "reason": event.reason})

    async def _send_retrying(self, event: QueueEvent, sids: list[str]) -> None:
        """The job will run again (a failed attempt's retry, or a re-run after its worker
        stopped): say so, and let the next run's progress show from 0."""
        try:
            status = await self.queue.status(event.job_id)
        except QueueUnavailable:
            return
        if status is None or status.state.is_terminal:
            return
        reason: str | None = "its worker stopped; running it again"
        if event.fields.get("prev") != "active":
            reason = await self.queue.last_reason(status)
        payload = {"jobId": event.job_id, "attempt": status.attempts_made + 1, "reason": reason}
        for sid in sids:
            state = self._sockets.get(sid)
            if state is not None and event.job_id in state.progress \
                    and event.job_id not in state.pending:
                state.progress[event.job_id] = -1.0
                await self._emit(state, event_name(event.queue, "retrying"), payload)

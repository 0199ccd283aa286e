"""The dashboard's live view: the queue events this web process's bridge reads, pushed to the
dashboard's sockets (Socket.IO namespace ``/dashboard``), throttled.

The bridge hands every batch of events to ``Hub.tap``, which only takes notes, in memory: which
queues changed, and the latest state, progress and message of the jobs some dashboard shows
(each socket says which with ``view``; at most VISIBLE_MAX rows and one open job each), plus the
output and log lines of the open jobs. At most every TICK_S a single task turns the notes into
pushes: ``counts`` (one round trip for all changed queues, to every dashboard socket), ``jobs``
(to each socket, the changes of the rows it shows), ``job`` (the open job's progress, state and
new output), and every THROUGHPUT_S, or when a minute begins, ``throughput``. However many jobs
a second the queues move, a browser gets a few small messages a second: 10k jobs/s cost the tap
a set lookup per event and the browser nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import socketio

from .. import names
from .._bullmq import QueueEvent
from ..admin import Admin
from ..errors import QueueUnavailable
from ..ids import is_job_id
from ..redis import REDIS_ERRORS
from ..status import progress_details, progress_value
from ..web.access import Caller
from .access import Denied, Gate

log = logging.getLogger("jobcast.dashboard")

NAMESPACE = "/dashboard"
TICK_S = 0.5
"""At most one push of each kind per socket per tick."""
THROUGHPUT_S = 5.0
VISIBLE_MAX = 200
ENTRY_BYTES = 256 * 1024
"""Output a socket gets per tick for its open job; past it, it is told to read the rest."""
KINDS = frozenset({"added", "active", "progress", "completed", "failed", "delayed", "waiting",
                   "removed", "output", "log", "paused", "resumed", "cleaned"})
"""The event kinds the dashboard needs from the bridge (it adds them to the reader's)."""
_STATE_OF = {"added": "waiting", "active": "active", "completed": "completed",
             "failed": "failed", "delayed": "delayed", "waiting": "waiting",
             "removed": "removed"}


@dataclass
class View:
    """What one dashboard socket shows."""

    client: Caller
    rows: set[str] = field(default_factory=set)
    job: str | None = None


@dataclass
class Notes:
    """What happened since the last tick."""

    queues: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    entries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    entry_bytes: dict[str, int] = field(default_factory=dict)


class Hub:
    """Example usage::

        hub = Hub(admin, sio, gate)
        app.event_taps.append(hub.tap)
    """

    def __init__(self, admin: Admin, sio: socketio.AsyncServer, gate: Gate) -> None:
        self.admin = admin
        self.sio = sio
        self.gate = gate
        self.views: dict[str, View] = {}
        self._watched: dict[str, int] = {}
        self._notes = Notes()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._throughput_at = 0.0
        self.pushes = 0
        """Ticks that sent something (for tests and /readyz-like curiosity)."""
        sio.on("connect", self._on_connect, namespace=NAMESPACE)
        sio.on("disconnect", self._on_disconnect, namespace=NAMESPACE)
        sio.on("view", self._on_view, namespace=NAMESPACE)

    # -- sockets ----------------------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        client = Caller.from_environ(environ)
        origin, host = environ.get("HTTP_ORIGIN"), environ.get("HTTP_HOST", "")
        if origin is not None and origin.split("://", 1)[-1].rstrip("/") != host:
            raise socketio.exceptions.ConnectionRefusedError(
                "the dashboard's socket takes its own page only")
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            await self.gate.let_in(client, token if isinstance(token, str) else None)
        except Denied as err:
            raise socketio.exceptions.ConnectionRefusedError(str(err)) from None
        self.views[sid] = View(client)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def _on_disconnect(self, sid: str, *_: Any) -> None:
        view = self.views.pop(sid, None)
        if view is not None:
            self._unwatch(view)

    async def _on_view(self, sid: str, data: Any = None, *_: Any) -> dict[str, Any]:
        view = self.views.get(sid)
        if view is None or not isinstance(data, dict):
            return {"ok": False, "error": "not connected"}
        rows = data.get("jobs")
        job = data.get("job")
        self._unwatch(view)
        view.rows = {j for j in rows if is_job_id(j)} if isinstance(rows, list) else set()
        if len(view.rows) > VISIBLE_MAX:
            view.rows = set(list(view.rows)[:VISIBLE_MAX])
        view.job = job if is_job_id(job) else None
        self._watch(view)
        return {"ok": True, "rows": len(view.rows)}

    def _watch(self, view: View) -> None:
        for job_id in (*view.rows, *([view.job] if view.job else [])):
            self._watched[job_id] = self._watched.get(job_id, 0) + 1

    def _unwatch(self, view: View) -> None:
        for job_id in (*view.rows, *([view.job] if view.job else [])):
            left = self._watched.get(job_id, 0) - 1
            if left > 0:
                self._watched[job_id] = left
            else:
                self._watched.pop(job_id, None)

    # -- the tap ----------------------------------------------------------------------------

    async def tap(self, batch: list[QueueEvent]) -> None:
        """Notes on a batch of events (no I/O): called by the bridge for every batch."""
        if not self.views:
            return  # nobody looks: nothing to keep
        notes, watched = self._notes, self._watched
        for event in batch:
            notes.queues.add(event.queue)
            kind = event.kind
            if kind in ("completed", "failed"):
                notes.finished.add(event.queue)
            if event.job_id not in watched:
                continue
            if kind in ("output", "log"):
                self._entry(notes, event)
                continue
            change = notes.changes.setdefault(event.job_id, {"id": event.job_id,
                                                             "queue": event.queue})
            if kind == "progress":
                reported = event.progress
                change["progress"] = progress_value(reported)
                change["message"] = progress_details(reported)[0]
            elif kind in _STATE_OF and not (kind == "added" and "state" in change):
                change["state"] = _STATE_OF[kind]
                if kind == "completed":
                    change["progress"] = 100 if "progress" not in change else change["progress"]
                elif kind == "failed":
                    change["reason"] = event.reason[:300]
                elif kind == "waiting":
                    change["reason"] = None
        self._wake.set()

    def _entry(self, notes: Notes, event: QueueEvent) -> None:
        job_id = event.job_id
        text = event.fields.get("text", "")
        used = notes.entry_bytes.get(job_id, 0)
        kept = notes.entries.setdefault(job_id, [])
        if used + len(text) > ENTRY_BYTES:
            if not kept or kept[-1].get("gap") is not True:
                kept.append({"gap": True})  # too much for one tick: read the rest over HTTP
            return
        notes.entry_bytes[job_id] = used + len(text)
        try:
            seq = int(event.fields.get("seq", "-1"))
        except ValueError:
            seq = -1
        kept.append({"kind": event.kind, "seq": seq, "text": text})

    # -- pushing ----------------------------------------------------------------------------

    async def _run(self) -> None:
        """While dashboards are connected: wait for notes, push them, rest TICK_S."""
        while self.views:
            try:
                async with asyncio.timeout(60 - time.time() % 60 + 0.05):
                    await self._wake.wait()
            except TimeoutError:  # a new minute: the chart moves on even when nothing happens
                self._notes.finished.update(self.admin.queues)
                self._throughput_at = 0.0
            self._wake.clear()
            try:
                await self.flush()
            except (QueueUnavailable, *REDIS_ERRORS) as err:
                log.warning("dashboard: Redis unreachable (%s); pushing again when it is back",
                            err)
            except Exception:  # a bug must not end the live view
                log.exception("dashboard: a push failed")
            await asyncio.sleep(TICK_S)

    async def flush(self) -> None:
        """Push what the notes hold (what one tick does)."""
        notes, self._notes = self._notes, Notes()
        sent = False
        if notes.queues:
            try:
                counts = await self.admin.counts(notes.queues & set(self.admin.queues))
            except BaseException:
                self._notes.queues |= notes.queues  # try again next tick
                raise
            await self.sio.emit("counts", {"queues": [c.to_json() for c in counts.values()]},
                                namespace=NAMESPACE)
            sent = True
        if notes.changes:
            await self._refine(notes.changes.values())
        for sid, view in list(self.views.items()):
            rows = [notes.changes[j] for j in view.rows if j in notes.changes]
            if rows:
                await self.sio.emit("jobs", {"jobs": rows}, to=sid, namespace=NAMESPACE)
                sent = True
            if view.job and (view.job in notes.changes or view.job in notes.entries):
                await self.sio.emit("job", {"id": view.job, **notes.changes.get(view.job, {}),
                                            "entries": notes.entries.get(view.job, [])},
                                    to=sid, namespace=NAMESPACE)
                sent = True
        now = time.monotonic()
        if notes.finished and now - self._throughput_at >= THROUGHPUT_S:
            self._throughput_at = now
            found = await self.admin.throughput(60, notes.finished & set(self.admin.queues))
            await self.sio.emit("throughput", {"queues": {q: t.to_json()
                                                          for q, t in found.items()}},
                                namespace=NAMESPACE)
            sent = True
        elif notes.finished:
            self._notes.finished |= notes.finished  # next time: at most one chart per 5 s
        self.pushes += sent

    async def _refine(self, changes: Iterable[dict[str, Any]]) -> None:
        """What the stream does not say: which failed or removed jobs were cancelled."""
        ends = [c for c in changes if c.get("state") in ("failed", "removed")]
        if not ends:
            return
        commands: list[tuple[Any, ...]] = []
        for change in ends:
            keys = self.admin.keys.get(change["queue"])
            if change["state"] == "failed" and keys is not None:
                commands.append(("HGET", keys.job(change["id"]), names.STATE_FIELD))
            else:
                commands.append(("EXISTS", names.cancel_key(change["queue"], change["id"])))
        replies = await self.admin.fast.pipeline(*commands)
        for change, reply in zip(ends, replies, strict=True):
            if reply == names.CANCELLED or reply == 1:
                change["state"] = "cancelled"

"""The Socket.IO server: rooms named by job id, joined with ``joinRoom(jobId)``.

Joins go through Watchers (read the job, ask the access hook, let the bridge's Ledger keep the
books); the bridge's Relay feeds the live events. Rooms are local to this process: every web
process reads every event and sends only to its own sockets.
"""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any

import orjson
import socketio
from engineio.base_server import BaseServer

from ..bridge import Delivery
from ..errors import QueueUnavailable
from ..ids import is_job_id
from ..queue import CannotCancel
from ..settings import Settings
from .access import Access, Caller
from .watchers import UNAVAILABLE, Watchers, seen

log = logging.getLogger("jobcast.web")
JOINS_PER_SECOND = 500
JOIN_BURST = 1000


class _OrjsonCodec:
    """python-socketio's JSON hook: orjson is several times faster than json."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        return orjson.loads(text)


_SAME_ORIGIN = SimpleNamespace(cors_allowed_origins=None)


def _origin_check(extra: list[str]) -> Any:
    """The web's own origin (engine.io's own same-origin rule) plus the configured ones."""
    allowed = set(extra)

    def check(origin: str | None, environ: dict[str, Any]) -> bool:
        if origin is None:
            return True  # not a browser: nothing to protect against
        if origin.rstrip("/") in allowed:
            return True
        own: list[str] = BaseServer._cors_allowed_origins(_SAME_ORIGIN, environ)  # type: ignore[arg-type]
        return origin in own

    return check


class _JoinBudget:
    """A token bucket per socket: joins past the rate are refused, so a flood of joins from one
    socket cannot slow everyone's status reads."""

    __slots__ = ("tokens", "at")

    def __init__(self) -> None:
        self.tokens = float(JOIN_BURST)
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(JOIN_BURST, self.tokens + (now - self.at) * JOINS_PER_SECOND)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _after(options: Any) -> dict[str, int]:
    """What a joining socket already has: ``joinRoom(id, {after: seq, logsAfter: seq})`` (and
    ``token``: a watch token, for a socket without the application's session; ``job``: the
    job's name, which saves looking for it in every queue)."""
    if not isinstance(options, dict):
        return seen(None, None)
    return seen(options.get("after"), options.get("logsAfter"))


class SocketServer:
    """The Socket.IO server and its handlers. ``.sio`` is the python-socketio server."""

    def __init__(self, watchers: Watchers, settings: Settings) -> None:
        self.watchers = watchers
        self.queue = watchers.queue
        self.policy = watchers.policy
        self.settings = settings
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins=_origin_check(settings.origins) if settings.origins else None,
            json=_OrjsonCodec,
            ping_interval=25,
            ping_timeout=20,
        )
        self.ledger = watchers.ledger
        watchers.to_socket = self.send
        self._budgets: dict[str, _JoinBudget] = {}
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("joinRoom", self._on_join)
        self.sio.on("leaveRoom", self._on_leave)
        self.sio.on("cancel", self._on_cancel)

    async def send(self, delivery: Delivery) -> None:
        """One Socket.IO EVENT packet to one socket.

        Encoded here ("2" + JSON: an EVENT on the default namespace, Socket.IO protocol v5)
        and handed to Engine.IO directly: python-socketio's emit() spawns a task per
        recipient, which is most of the cost of a message when there is one recipient.
        """
        packet = "2" + orjson.dumps([delivery.event, delivery.payload]).decode()
        await self.sio.eio.send(delivery.eio_sid, packet)

    # -- client → server -------------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        self.ledger.connect(sid, eio_sid, Caller.from_environ(environ))
        self._budgets[sid] = _JoinBudget()

    async def _on_disconnect(self, sid: str, *_: Any) -> None:
        self.ledger.disconnect(sid)
        self._budgets.pop(sid, None)

    async def _on_join(self, sid: str, job_id: Any = None, options: Any = None,
                       *_: Any) -> dict[str, Any]:
        book = self.ledger.book(sid)
        if book is None:
            return {"ok": False, "error": "not connected"}
        if not is_job_id(job_id):
            return {"ok": False, "error": "invalid job id"}
        budget = self._budgets.get(sid)
        if budget is not None and not budget.take():
            return {"ok": False, "error": "too many joins, slow down", "retry": True}
        given = options if isinstance(options, dict) else {}
        token, job = given.get("token"), given.get("job")
        return await self.watchers.join(sid, book.client, job_id, _after(options),
                                        token if isinstance(token, str) else None,
                                        job if isinstance(job, str) else None)

    async def _on_leave(self, sid: str, job_id: Any = None, *_: Any) -> dict[str, Any]:
        if isinstance(job_id, str):
            self.ledger.leave(sid, job_id)
        return {"ok": True}

    async def _on_cancel(self, sid: str, job_id: Any = None, *_: Any) -> dict[str, Any]:
        book = self.ledger.book(sid)
        if book is None or not is_job_id(job_id):
            return {"ok": False, "error": "invalid job id"}
        try:
            status = await self.queue.status(job_id)
            if status is None or not await self.policy.permits(
                Access("cancel", status.job, job_id, book.client), status.owner
            ):
                return {"ok": False, "error": "unknown job"}
            result = await self.queue.cancel(job_id)
        except QueueUnavailable:
            return {"ok": False, "error": UNAVAILABLE, "retry": True}
        except CannotCancel as err:
            return {"ok": False, "error": str(err)}
        if result is None:
            return {"ok": False, "error": "unknown job"}
        return {"ok": True, "state": result.status.state.value}

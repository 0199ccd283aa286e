"""create_app(): the web process — HTTP API, Socket.IO, the bridge, the demo page.

Example usage::

    app = create_app(jobs, Settings(redis_url="redis://localhost:6379/0"))
    # uvicorn myapp:app

The returned ASGI app routes ``/socket.io/`` to Socket.IO and everything else to the HTTP
API. Its services (the one event-stream reader of this process) start on the ASGI lifespan,
or on the first request when the app is mounted somewhere that does not forward lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import socketio
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.cors import CORSMiddleware

from .access import AccessPolicy, AuthorizeHook, OwnerHook
from .api import build_api
from .enqueue import Enqueuer
from .events import EventStreamReader
from .queue import JobQueue
from .ratelimit import RateLimiter
from .realtime import Realtime
from .redis_client import REDIS_ERRORS, connect
from .registry import Jobs, load_jobs
from .settings import Settings

log = logging.getLogger("jobcast.web")
STATIC = Path(__file__).parent / "static"


class JobcastApp:
    """The ASGI app. ``.queue``, ``.realtime`` and ``.reader`` are there for tests and tools."""

    def __init__(
        self,
        jobs: Jobs,
        settings: Settings,
        *,
        owner: OwnerHook | None = None,
        authorize: AuthorizeHook | None = None,
    ) -> None:
        if not settings.redis_url:
            raise ValueError("the web app needs settings.redis_url (REDIS_URL)")
        self.settings = settings
        self.redis = connect(settings.redis_url)
        self.queue = JobQueue(jobs, settings, self.redis)
        policy = AccessPolicy(owner, authorize)
        self.realtime = Realtime(self.queue, settings, policy)
        self.reader = EventStreamReader(
            settings.redis_url, settings.prefix, jobs.names(), self.realtime.on_events
        )
        self.enqueuer = Enqueuer(self.queue, policy, RateLimiter(self.redis, settings.enqueue_rate),
                                 settings.max_body_bytes)
        self.api: FastAPI = build_api(self.queue, settings, policy, self.enqueuer, stats=self.stats)
        self._mount_demo_page(self.api)
        self._socketio = socketio.ASGIApp(self.realtime.sio, socketio_path="socket.io")
        self._http: Any = self._route_http
        if settings.origins:
            self._http = CORSMiddleware(self._route_http, allow_origins=settings.origins,
                                        allow_methods=["GET", "POST", "DELETE"],
                                        allow_headers=["content-type"], allow_credentials=True,
                                        expose_headers=["location", "retry-after"])
        self._bridge: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()

    def stats(self) -> dict[str, Any]:
        """What /readyz reports besides Redis: this process's sockets, rooms and bridge."""
        return {
            "sockets": self.realtime.socket_count,
            "rooms": self.realtime.room_count,
            "bridge": {"connected": self.reader.connected.is_set(),
                       "reconnects": self.reader.reconnects},
        }

    @staticmethod
    def _mount_demo_page(api: FastAPI) -> None:
        api.mount("/static", StaticFiles(directory=STATIC), name="static")

        @api.get("/", include_in_schema=False)
        async def index() -> FileResponse:
            return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self._bridge is None:
            await self.start()
        if scope["path"].startswith("/socket.io"):
            await self._socketio(scope, receive, send)
        else:
            await self._http(scope, receive, send)

    async def _route_http(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and \
                scope["path"] in self.enqueuer.paths:
            await self.enqueuer.asgi(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as err:  # noqa: BLE001 - reported to the server
                    await send({"type": "lifespan.startup.failed", "message": str(err)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start(self) -> None:
        """Start the bridge (once, however often it is called)."""
        async with self._start_lock:
            if self._bridge is not None:
                return
            try:
                await self.queue.prepare()
            except Exception as err:  # Redis may come later: the bridge waits for it
                log.warning("Redis not reachable at start-up (%s); serving 503 until it is", err)
            self._bridge = asyncio.ensure_future(self._supervise_bridge())

    async def _supervise_bridge(self) -> None:
        """The reader survives Redis errors itself; this restarts it after a bug, too."""
        while True:
            try:
                await self.reader.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event bridge crashed; restarting it")
                await asyncio.sleep(1)

    async def stop(self) -> None:
        if self._bridge is not None:
            self._bridge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._bridge
        await self.queue.fast.aclose()
        with contextlib.suppress(*REDIS_ERRORS):
            await self.redis.aclose()


def create_app(
    jobs: Jobs | None = None,
    settings: Settings | None = None,
    *,
    owner: OwnerHook | None = None,
    authorize: AuthorizeHook | None = None,
) -> JobcastApp:
    """The web ASGI app for ``jobs`` (default: the registry named by ``settings.jobs``)."""
    settings = settings or Settings()
    return JobcastApp(jobs or load_jobs(settings.jobs), settings, owner=owner, authorize=authorize)

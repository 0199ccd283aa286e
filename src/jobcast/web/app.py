"""create_app(): the web process — HTTP API, Socket.IO, the bridge, the browser client.

Example usage::

    app = create_app(jobs, Settings(redis_url="redis://localhost:6379/0"))
    # uvicorn myapp:app — or inside an existing app:
    host = FastAPI(lifespan=app.lifespan)
    host.mount("/jobs", app)

The app serves, under wherever it is mounted: ``/api/...`` (the HTTP API), ``/socket.io/``,
``/jobcast/`` (the browser client), ``/healthz``, ``/readyz``, and ``/`` (the demo page) only
when asked for. Its one background task (this process's event-stream reader) starts with the
ASGI lifespan, or on the first request when the host does not pass lifespan on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.cors import CORSMiddleware

from .._bullmq import QueueEvent
from ..bridge import EventStreamReader
from ..metrics.web import WebMetrics
from ..queue import JobQueue
from ..redis import FastRedis
from ..registry import Jobs, load_jobs
from ..settings import Settings
from .access import AccessPolicy, AuthorizeHook, OwnerHook
from .api import Services, build_api
from .enqueue import Enqueuer
from .headers import SecurityHeaders
from .http import route_path
from .ratelimit import RateLimiter
from .sockets import SocketServer
from .streams import streams_router
from .tokens import WatchTokens
from .watchers import Watchers

log = logging.getLogger("jobcast.web")
STOP_TIMEOUT_S = 3.0
PACKAGE = Path(__file__).resolve().parent.parent
BROWSER = PACKAGE / "browser"
DEMO = PACKAGE / "demo" / "static"


class JobcastApp:
    """The ASGI app. ``.queue``, ``.sockets`` and ``.reader`` are there for tests and tools."""

    def __init__(
        self,
        jobs: Jobs,
        settings: Settings,
        *,
        owner: OwnerHook | None = None,
        authorize: AuthorizeHook | None = None,
        demo_page: bool | None = None,
    ) -> None:
        self.settings = settings
        self.fast = FastRedis(settings.redis_target("the web app"))
        self.queue = JobQueue(jobs, settings, self.fast)
        tokens = (WatchTokens(settings.watch_secrets, settings.watch_token_ttl_s)
                  if settings.watch_secrets else None)
        self.policy = policy = AccessPolicy(owner, authorize, tokens)
        self.watchers = Watchers(self.queue, settings, policy)
        self.sockets = SocketServer(self.watchers, settings)
        self.event_taps: list[Callable[[list[QueueEvent]], Awaitable[None]]] = []
        """More readers of every batch of queue events (the dashboard's live view)."""
        self.reader = EventStreamReader(
            self.fast.target, settings.prefix, list(self.queue.keys), self._on_events,
            on_connect=self.queue.prepare, on_gap=self.watchers.relay.resync)
        self.enqueuer = Enqueuer(self.queue, policy, RateLimiter(self.fast, settings.enqueue_rate),
                                 settings.max_body_bytes, settings.max_batch)
        self.metrics = WebMetrics(self.stats)
        self.enqueuer.on_answer = self.metrics.enqueued
        self.http: FastAPI = build_api(
            Services(self.queue, policy, self.enqueuer, self.watchers, self.stats, self.metrics),
            routers=[streams_router], lifespan=self._lifespan)
        self.http.mount("/jobcast", StaticFiles(directory=BROWSER, follow_symlink=False),
                        name="jobcast-client")
        if settings.demo_page if demo_page is None else demo_page:
            _add_demo_page(self.http)
        if settings.dashboard:
            from ..dashboard import mount_dashboard

            mount_dashboard(self)
        self._dispatch: Any = self._route
        if settings.origins:
            self._dispatch = CORSMiddleware(
                self._route, allow_origins=settings.origins,
                allow_methods=["GET", "POST", "DELETE"], allow_headers=["content-type"],
                allow_credentials=True, expose_headers=["location", "retry-after"])
        self._http = SecurityHeaders(self.http)
        self._bridge: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()

    async def _on_events(self, batch: list[QueueEvent]) -> None:
        await self.watchers.relay.on_events(batch)
        for tap in self.event_taps:
            try:
                await tap(batch)
            except Exception:  # a tap's bug must not stop the sockets' events
                log.exception("an event tap failed")

    def stats(self) -> dict[str, Any]:
        """What /readyz reports besides Redis: this process's sockets, rooms and bridge."""
        return {
            "pid": os.getpid(),
            "sockets": self.watchers.socket_count,
            "streams": self.watchers.stream_count,
            "rooms": self.watchers.ledger.room_count,
            "bridge": {"connected": self.reader.connected.is_set(),
                       "reconnects": self.reader.reconnects, "resyncs": self.reader.resyncs,
                       "lag_ms": max(0, int(time.time() * 1000) - self.reader.newest_ms)
                       if self.reader.newest_ms else None},
        }

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.http(scope, receive, send)  # FastAPI runs self._lifespan
            return
        if self._bridge is None:
            await self.start()  # mounted in a host that does not pass lifespan on
        if scope["type"] == "http" and route_path(scope).startswith("/dashboard"):
            await self._route(scope, receive, send)  # same-origin only: the CORS origins
            return  # (JOBCAST_ALLOWED_ORIGINS) are the API's, never the dashboard's
        await self._dispatch(scope, receive, send)

    async def _route(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        path = route_path(scope)
        if path.startswith("/socket.io/") or path == "/socket.io":
            await self.sockets.sio.handle_request(scope, receive, send)
        elif scope["type"] == "http" and scope["method"] == "POST" and path in self.enqueuer.paths:
            await self.enqueuer(scope, receive, send)
        else:
            await self._http(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any = None) -> AsyncIterator[None]:
        """For a host app: ``FastAPI(lifespan=jobcast_app.lifespan)`` starts and stops the
        bridge with the host."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    def _lifespan(self, app: Any) -> contextlib.AbstractAsyncContextManager[None]:
        return self.lifespan(app)

    async def start(self) -> None:
        """Start the bridge (once, however often it is called)."""
        async with self._start_lock:
            if self._bridge is None:
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
        """Stop the bridge; bounded, whatever state Redis and the sockets are in."""
        if self._bridge is not None:
            self._bridge.cancel()
            done, _ = await asyncio.wait({self._bridge}, timeout=STOP_TIMEOUT_S)
            if not done:
                log.warning("the event bridge did not stop within %gs; leaving it", STOP_TIMEOUT_S)
        await self.fast.aclose()


def _add_demo_page(api: FastAPI) -> None:
    api.mount("/demo", StaticFiles(directory=DEMO), name="demo")

    @api.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(DEMO / "index.html", headers={"Cache-Control": "no-cache"})


def create_app(
    jobs: Jobs | None = None,
    settings: Settings | None = None,
    *,
    owner: OwnerHook | None = None,
    authorize: AuthorizeHook | None = None,
    demo_page: bool | None = None,
) -> JobcastApp:
    """The web ASGI app for ``jobs`` (default: the registry named by ``settings.jobs``).

    ``owner`` and ``authorize`` are the access hooks (web/access.py); ``demo_page`` serves
    the demo page at ``/`` (default: ``settings.demo_page``).
    """
    settings = settings or Settings.load()
    return JobcastApp(jobs or load_jobs(settings.jobs), settings, owner=owner,
                      authorize=authorize, demo_page=demo_page)

"""Shared fixtures: one real redis-server, and one `jobcast web` + `jobcast worker` on the
sample jobs, per session. Tests that break things build their own Stack (tests/support).

Tests under tests/e2e/ and tests/conformance/ are marked ``e2e`` (real processes);
``pytest -m "not e2e"`` runs the fast tier.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import InProcess, RedisServer, Stack, Watcher, require_tool

HERE = Path(__file__).parent
REAL_PROCESSES = (HERE / "e2e", HERE / "conformance")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(folder in Path(str(item.fspath)).parents for folder in REAL_PROCESSES):
            item.add_marker(pytest.mark.e2e)


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (never a downloaded browser).

    Per module, and used last in a module: Playwright's sync API keeps an event loop running
    in this thread while it lives, and pytest-asyncio cannot run async tests beside it."""
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("JOBCAST_CHROMIUM") or require_tool(
        "chromium", "apt-get install chromium; .ci/run installs it")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stack(redis_server: RedisServer) -> Iterator[Stack]:
    with Stack(redis_server, JOBCAST_DEMO_PAGE="true") as stack:
        stack.start_worker()
        stack.start_web()
        yield stack


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:
        yield client


@pytest.fixture
async def watcher(stack: Stack) -> AsyncIterator[Watcher]:
    w = await Watcher(stack.url).connect()
    yield w
    await w.close()


@pytest.fixture(scope="session")
async def inproc(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory,
                 ) -> AsyncIterator[InProcess]:
    """The HTTP contract in-process (httpx's ASGI transport), with an in-process worker for
    the async and thread jobs, on database 1 of the session's redis-server."""
    from jobcast import Settings, create_app, load_jobs
    from jobcast.worker import JobWorker

    settings = Settings(redis_url=redis_server.url.replace("/0", "/1"), lock_duration_ms=5000,
                        stalled_interval_ms=2000, shutdown_grace_s=2,
                        results_dir=tmp_path_factory.mktemp("results"))
    jobs = load_jobs("sample_jobs:jobs")
    app = create_app(jobs, settings)
    async_jobs = jobs.only([s.name for s in jobs if not s.cpu_bound])
    worker = JobWorker(async_jobs, settings)
    stop = asyncio.Event()
    running = asyncio.ensure_future(worker.run(stop))
    transport = httpx.ASGITransport(app=app)
    db = redis_server.client(db=1)
    async with httpx.AsyncClient(transport=transport, base_url="http://jobcast.test",
                                 timeout=10) as client:
        yield InProcess(app, worker, client, db)
    stop.set()
    await running
    await app.stop()
    db.close()

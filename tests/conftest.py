"""Shared fixtures: one real redis-server, one `jobcast web` and one `jobcast worker` per session.

Tests that break things (kill a worker, restart Redis) build their own with helpers.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from helpers import Proc, RedisServer, Watcher, Web, jobcast_env


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@dataclass
class Stack:
    redis: RedisServer
    web: Web
    worker: Proc

    @property
    def url(self) -> str:
        return self.web.url


@pytest.fixture(scope="session")
def stack(redis_server: RedisServer) -> Iterator[Stack]:
    env = jobcast_env(redis_server.url)
    worker = Proc(["worker"], env).start()
    web = Web(env).start()
    yield Stack(redis_server, web, worker)
    web.stop()
    worker.stop()


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:
        yield client


@pytest.fixture
async def watcher(stack: Stack) -> AsyncIterator[Watcher]:
    w = await Watcher(stack.url).connect()
    yield w
    await w.close()


async def start_job(http: httpx.AsyncClient, job: str, data: object) -> str:
    response = await http.post(f"/api/{job}", json=data)
    assert response.status_code == 202, response.text
    return str(response.json()["jobId"])

"""Redis goes away mid-job and comes back: the worker and the bridge recover on their own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from support import RedisServer, Stack, Watcher, Web, Worker, jobcast_env, start_job, wait_state


@pytest.fixture
def own_stack() -> Iterator[Stack]:
    # A lock long enough to outlive the outage: this test is about reconnecting, not stalls.
    with Stack(JOBCAST_LOCK_DURATION_MS="10000", JOBCAST_STALLED_INTERVAL_MS="5000") as stack:
        stack.start_worker()
        stack.start_web()
        yield stack


async def test_bridge_and_worker_survive_a_redis_restart(own_stack: Stack) -> None:
    redis, web, worker = own_stack.redis, own_stack.web, own_stack.workers[0]
    assert web is not None
    watcher = await Watcher(web.url).connect()
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        job_id = await start_job(http, "bulk", {"items": 40, "item_ms": 100})
        assert (await watcher.join(job_id))["ok"]
        while not watcher.progress(job_id) or watcher.progress(job_id)[-1] < 10:
            await asyncio.sleep(0.05)

        redis.stop()  # AOF on, appendfsync always: nothing acknowledged is lost
        started = time.monotonic()
        down = await http.post("/api/bulk", json={"items": 1})
        assert down.status_code == 503, down.text
        assert time.monotonic() - started < 5
        assert "error" in down.json()
        # A join meanwhile is refused with "try again", not "unknown job".
        assert await watcher.join("B" * 22) == {
            "ok": False, "error": "service unavailable, try again", "retry": True}
        await asyncio.sleep(1.0)
        redis.start()

        event, data = await watcher.wait_terminal(job_id, timeout=60)
        assert event == "bulk:completed", data
        assert len(watcher.terminal(job_id)) == 1
        # And new jobs flow again, end to end.
        after = await start_job(http, "bulk", {"items": 2})
        await watcher.join(after)
        assert (await watcher.wait_terminal(after, timeout=30))[0] == "bulk:completed"
    await watcher.close()
    assert worker.process is not None and worker.process.poll() is None


async def test_a_worker_outlives_redis_refusing_its_commands(tmp_path: object) -> None:
    """Redis can answer an error instead of working (LOADING after a restart, READONLY after a
    failover, NOPERM here): the worker's loops wait and carry on, they do not end."""
    redis = RedisServer().start()
    redis.command("ACL", "SETUSER", "w", "on", ">pw", "~*", "&*", "+@all")
    env = jobcast_env(redis.url)
    worker = Worker({**env, "REDIS_URL": f"redis://w:pw@127.0.0.1:{redis.port}/0"}).start()
    web = Web(env).start()
    try:
        async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
            first = await start_job(http, "bulk", {"items": 1})
            await wait_state(http, first, "completed")
            redis.command("ACL", "SETUSER", "w", "-evalsha", "-eval")  # scripts now refused
            refused = await start_job(http, "bulk", {"items": 1})
            deadline = time.monotonic() + 20
            while "NOPERM" not in worker.output():
                assert time.monotonic() < deadline, worker.output()
                await asyncio.sleep(0.1)
            assert (await http.get(f"/api/jobs/{refused}")).json()["state"] == "waiting"
            redis.command("ACL", "SETUSER", "w", "+@all")
            await wait_state(http, refused, "completed")
        assert worker.process is not None and worker.process.poll() is None
    finally:
        web.stop()
        worker.stop()
        redis.stop()


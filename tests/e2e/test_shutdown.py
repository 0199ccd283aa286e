"""SIGTERM ends every jobcast process within its grace period, whatever state Redis and the
sockets are in: here Redis stops answering (SIGSTOP: no FIN, no RST, connections hang) just
before the web and the worker are told to stop, with a job running and sockets watching."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx

from support import Stack, Watcher, start_job, until


async def test_web_and_worker_stop_in_time_when_redis_hangs(tmp_path: Path) -> None:
    with Stack(JOBCAST_JOBS="fault_jobs:jobs", JOBCAST_SHUTDOWN_GRACE_S="2") as stack:
        worker = stack.start_worker()
        web = stack.start_web()
        watchers = [await Watcher(web.url).connect() for _ in range(10)]
        async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
            job_id = await start_job(http, "gate", {"dir": str(tmp_path)})
            for watcher in watchers:
                assert (await watcher.join(job_id))["ok"]
            await until(lambda: (tmp_path / "runs").exists(), what="the job running")
        assert stack.redis.process is not None
        stack.redis.process.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            worker.signal(signal.SIGTERM)
            web.signal(signal.SIGTERM)
            # Grace 2 s, then the hand-back (which cannot reach Redis) and the bounded closes.
            assert await asyncio.to_thread(worker.process.wait, 30) == 0, worker.output()
            assert await asyncio.to_thread(web.process.wait, 30) in (0, -signal.SIGTERM)
            took = time.monotonic() - started
            assert took < 25, took
            assert "exiting: SIGTERM received" in worker.output()
        finally:
            stack.redis.process.send_signal(signal.SIGCONT)
            for watcher in watchers:
                await watcher.close()
    assert not [p for p in (worker, web) if p.alive()]


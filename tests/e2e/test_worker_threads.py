"""Plain ``def`` handlers run in threads of their own: as many as the concurrency setting,
cancellable through ``ctx.cancelled``, and unable to starve the worker or hold up its exit
when they outlive their job."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import Stack, Watcher, start_job, until, wait_state


@pytest.fixture
def stack() -> Iterator[Stack]:
    with Stack(JOBCAST_JOBS="fault_jobs:jobs", JOBCAST_SHUTDOWN_GRACE_S="1") as stack:
        stack.start_worker()
        stack.start_web()
        yield stack


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def test_a_thread_handler_sees_its_cancel(stack: Stack, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        job_id = await start_job(http, "nap", {"dir": str(tmp_path), "seconds": 30})
        await until(lambda: lines(tmp_path / "starts"), what="the handler started")
        response = await http.delete(f"/api/jobs/{job_id}")
        assert response.status_code == 200 and response.json()["state"] == "cancelled"
        await until(lambda: (tmp_path / "nap.cancelled").exists(), timeout=10,
                    what="ctx.cancelled seen by the thread")
        assert (tmp_path / "nap.cancelled").read_text() == "cancelled flag seen"


async def test_thread_jobs_run_as_many_at_once_as_the_concurrency(
        stack: Stack, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        ids = [await start_job(http, "nap", {"dir": str(tmp_path), "seconds": 3,
                                             "name": f"n{i}"}) for i in range(12)]
        await until(lambda: len(lines(tmp_path / "starts")) == 12, timeout=15,
                    what="twelve handlers running")
        # All twelve started before any of them ended: none waited for a pool thread.
        assert lines(tmp_path / "ends") == []
        for job_id in ids:
            assert (await wait_state(http, job_id, "completed"))["result"]["slept"]


async def test_handlers_outliving_their_timeout_do_not_starve_the_next_job(
        stack: Stack, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        stuck = [await start_job(http, "stubborn", {"dir": str(tmp_path), "seconds": 20,
                                                    "name": f"s{i}"}) for i in range(8)]
        for job_id in stuck:
            body = await wait_state(http, job_id, "failed")
            assert body["reason"] == "timed out after 1 s"
        # Eight threads still sleep; a new thread job starts at once and completes.
        quick = await start_job(http, "nap", {"dir": str(tmp_path), "seconds": 0.05,
                                              "name": "quick"})
        assert (await wait_state(http, quick, "completed", "failed"))["result"] == {
            "slept": "quick"}
        # And the worker still stops promptly: the stuck threads do not hold its exit.
        worker = stack.workers[0]
        worker.signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.process.wait, 15) == 0
        assert "8 handler thread(s) still running at exit are left behind" in worker.output()


async def test_a_bulk_job_without_pauses_can_be_cancelled(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        watcher = await Watcher(stack.url).connect()
        try:
            job_id = await start_job(http, "bulk", {"items": 1_000_000, "item_ms": 0})
            assert (await watcher.join(job_id))["ok"]
            await until(lambda: watcher.progress(job_id) and watcher.progress(job_id)[-1] > 0,
                        what="the job running")
            response = await http.delete(f"/api/jobs/{job_id}")
            assert response.status_code == 200, response.text
            event, data = await watcher.wait_terminal(job_id)
            assert (event, data["state"]) == ("bulk:failed", "cancelled")
            body = (await http.get(f"/api/jobs/{job_id}")).json()
            assert body["state"] == "cancelled" and body["result"] is None
        finally:
            await watcher.close()

"""Across the two systems on one Redis: a Node worker behind jobcast's API and sockets, ids a
Node producer chose, and cancels that tell the truth about who runs a job."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from harness import Producer, jobcast_env_for, node_worker, stream

from support import Watcher, Web, Worker, start_job, wait_state


@pytest.fixture
def queue() -> str:
    return f"io{uuid.uuid4().hex[:8]}"


@pytest.fixture
def web(conformance_redis: str, queue: str) -> Iterator[Web]:
    web = Web(jobcast_env_for(conformance_redis, queue))
    try:
        yield web.start()
    finally:
        web.stop()


async def test_a_node_worker_runs_jobs_enqueued_over_jobcasts_api(
        node_modules: object, conformance_redis: str, queue: str, web: Web) -> None:
    worker = node_worker(conformance_redis, queue)
    watcher = await Watcher(web.url).connect()
    try:
        async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
            job_id = await start_job(http, queue, {"do": "progress", "values": [20, 60, 100],
                                                   "ms": 100})
            assert (await watcher.join(job_id))["ok"]
            event, data = await watcher.wait_terminal(job_id)
            assert (event, data) == (f"{queue}:completed", {
                "jobId": job_id, "result": {"values": 3}, "state": "completed"})
            assert watcher.progress(job_id)[-1] == 100 and len(watcher.progress(job_id)) >= 2
            body = (await http.get(f"/api/jobs/{job_id}")).json()
            assert body["state"] == "completed" and body["result"] == {"values": 3}
            failing = await start_job(http, queue, {"do": "fail", "message": "node says no"})
            assert (await watcher.join(failing))["ok"]
            assert (await watcher.wait_terminal(failing))[1] == {
                "jobId": failing, "reason": "node says no", "state": "failed"}
    finally:
        await watcher.close()
        worker.stop()


async def test_ids_a_node_producer_chose_are_visible(
        producer: Producer, conformance_redis: str, queue: str, web: Web) -> None:
    named = str(producer("add", queue=queue, name=queue, data={"do": "ok", "value": 42},
                         opts={"jobId": "order-42"}))
    counted = str(producer("add", queue=queue, name=queue, data={"do": "ok", "value": 1}))
    assert named == "order-42" and counted.isdigit()  # BullMQ's counter id
    watcher = await Watcher(web.url).connect()
    try:
        async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
            for job_id in (named, counted):
                body = (await http.get(f"/api/jobs/{job_id}")).json()
                assert body["state"] == "waiting" and body["job"] == queue, body
                assert await watcher.join(job_id) == {"ok": True, "state": "waiting", "output": 0, "logs": 0}
            worker = Worker(jobcast_env_for(conformance_redis, queue)).start()
            try:
                for job_id, value in ((named, 42), (counted, 1)):
                    event, data = await watcher.wait_terminal(job_id)
                    assert (event, data["result"]) == (f"{queue}:completed", value)
                    assert (await wait_state(http, job_id, "completed"))["result"] == value
            finally:
                worker.stop()
    finally:
        await watcher.close()


async def test_cancel_of_a_job_a_node_worker_runs_is_refused_honestly(
        node_modules: object, producer: Producer, conformance_redis: str, queue: str,
        web: Web) -> None:
    worker = node_worker(conformance_redis, queue)
    try:
        async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
            job_id = await start_job(http, queue, {"do": "sleep", "ms": 2500})
            await wait_state(http, job_id, "active")
            refused = await http.delete(f"/api/jobs/{job_id}")
            assert refused.status_code == 409, refused.text
            assert "jobcast cannot stop" in refused.json()["error"]
            done = await wait_state(http, job_id, "completed", "failed", "cancelled")
            assert done["state"] == "completed" and done["result"] == {"slept": 2500}
    finally:
        worker.stop()


async def test_cancel_of_a_waiting_job_is_a_removal_as_in_bullmq(
        producer: Producer, conformance_redis: str, queue: str, web: Web) -> None:
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        ours = await start_job(http, queue, {"do": "ok"})
        cancelled = await http.delete(f"/api/jobs/{ours}")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    theirs = str(producer("add", queue=queue, name=queue, data={"do": "ok"}))
    assert producer("remove", queue=queue, id=theirs) == 1
    events = stream(conformance_redis, queue)

    def ending(job_id: str) -> list[tuple[str, str | None]]:
        return [(e["event"], e.get("prev")) for e in events
                if e.get("jobId") == job_id and e["event"] not in ("added", "waiting")]

    assert ending(ours) == ending(theirs) == [("removed", "wait")]

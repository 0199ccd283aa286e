"""Bull Board (pinned in tests/conformance/node) pointed at jobcast's Redis: it shows jobcast's
jobs as it shows Node's, and its buttons work on jobcast's queues."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from harness import NODE, jobcast_env_for

from jobcast.cli.embedded import free_port
from support import Web, Worker, start_job, wait_for, wait_state


class Board:
    def __init__(self, redis_url: str, queue: str) -> None:
        self.port = free_port()
        self.queue = queue
        self.process = subprocess.Popen(
            ["node", str(NODE / "board.js"), redis_url, str(self.port), queue], cwd=NODE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout is not None
        assert self.process.stdout.readline().startswith("ready"), "Bull Board did not start"
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def queue_view(self, status: str = "latest") -> dict[str, Any]:
        answer = self.http.get("/api/queues", params={"activeQueue": self.queue,
                                                      "status": status, "page": 1})
        answer.raise_for_status()
        return next(q for q in answer.json()["queues"] if q["name"] == self.queue)

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.http.get(f"/api/queues/{self.queue}/{job_id}").json()["job"])

    def stop(self) -> None:
        self.http.close()
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def stack(node_modules: object, conformance_redis: str) -> Iterator[tuple[Board, Web, Worker]]:
    queue = f"bb{uuid.uuid4().hex[:8]}"
    env = jobcast_env_for(conformance_redis, queue)
    worker = Worker(env).start()
    web = Web(env).start()
    board = Board(conformance_redis, queue)
    try:
        yield board, web, worker
    finally:
        board.stop()
        web.stop()
        worker.stop()


async def test_bull_board_shows_jobcasts_jobs_and_its_buttons_work(
        stack: tuple[Board, Web, Worker]) -> None:
    board, web, worker = stack
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        ok = await start_job(http, board.queue, {"do": "progress", "values": [30, 70], "ms": 20})
        logs = await start_job(http, board.queue, {"do": "log", "lines": ["step 1", "step 2"]})
        failed = await start_job(http, board.queue, {"do": "fail", "message": "it broke"})
        for job_id, state in ((ok, "completed"), (logs, "completed"), (failed, "failed")):
            await wait_state(http, job_id, state)

        view = board.queue_view()
        assert view["counts"]["completed"] == 2 and view["counts"]["failed"] == 1
        assert view["hasWorkers"] is True and view["isPaused"] is False
        done = board.job(ok)
        assert done["progress"] == 70 and done["returnValue"] == {"values": 2}
        assert done["processedBy"] and done["attempts"] == 1
        broken = board.job(failed)
        assert broken["failedReason"] == "it broke" and broken["isFailed"] is True
        assert broken["stacktrace"] and broken["stacktrace"][0].startswith("ValueError: it broke")
        assert board.http.get(f"/api/queues/{board.queue}/{logs}/logs").json() == [
            "step 1", "step 2"]
        workers = board.http.get(f"/api/queues/{board.queue}/workers").json()["workers"]
        assert len(workers) == 1

        # Pause: the jobcast worker takes nothing; resume: it does.
        assert board.http.put(f"/api/queues/{board.queue}/pause").status_code == 200
        assert board.queue_view()["isPaused"] is True
        held = await start_job(http, board.queue, {"do": "ok", "value": "after resume"})
        time.sleep(1.0)  # a worker that ignored the pause would have run it by now
        assert (await http.get(f"/api/jobs/{held}")).json()["state"] == "waiting"
        assert board.http.put(f"/api/queues/{board.queue}/resume").status_code == 200
        assert (await wait_state(http, held, "completed"))["result"] == "after resume"

        # Retry the failed job: the jobcast worker runs it again (and it fails again).
        assert board.http.put(f"/api/queues/{board.queue}/{failed}/retry").status_code == 204
        wait_for(lambda: board.job(failed)["attempts"] == 2, timeout=20, what="retried")
        assert (await http.get(f"/api/jobs/{failed}")).json()["attemptsMade"] == 2

        # Clean: one job, then every completed job older than the board's 5 s grace.
        assert board.http.put(f"/api/queues/{board.queue}/{logs}/clean").status_code == 204
        assert (await http.get(f"/api/jobs/{logs}")).status_code == 404
        oldest = done["finishedOn"] / 1000
        wait_for(lambda: time.time() - oldest > 5.5, timeout=10, what="past the clean grace")
        assert board.http.put(f"/api/queues/{board.queue}/clean/completed").status_code == 200
        assert (await http.get(f"/api/jobs/{ok}")).status_code == 404

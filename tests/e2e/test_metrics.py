"""Prometheus metrics, scraped and parsed as Prometheus would (prometheus_client.parser), and
checked against the jobs this test ran: the workers' on their own port (one process, and two
sharing it), the web's at /metrics, and who may scrape."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobcast.cli.embedded import free_port
from support import Proc, Stack, Watcher, start_job, wait_for, wait_state


def scrape(url: str, headers: dict[str, str] | None = None) -> dict[tuple[str, tuple], float]:
    """Every sample: (name, sorted labels) → value."""
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(params=[1, 2], ids=["one-process", "two-processes"])
def counted(request: pytest.FixtureRequest) -> Iterator[tuple[Stack, int]]:
    port = free_port()
    with Stack(JOBCAST_JOBS="fault_jobs:jobs") as stack:
        stack.start_worker("--processes", str(request.param), JOBCAST_METRICS_PORT=str(port))
        stack.start_web()
        yield stack, port


async def test_the_workers_and_the_webs_counts_match_the_jobs_that_ran(
        counted: tuple[Stack, int], tmp_path: Path) -> None:
    stack, port = counted
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        done = [await start_job(http, "bulk", {"items": 3}) for _ in range(4)]
        failed = [await start_job(http, "boom", {}) for _ in range(2)]
        retried = await start_job(http, "flaky", {"fail_times": 2})
        assert (await http.post("/api/bulk", json={"items": "many"})).status_code == 422
        assert (await http.post("/api/nope", json={})).status_code == 404
        gated = await start_job(http, "gate", {"dir": str(tmp_path)})
        await wait_state(http, gated, "active")
        assert (await http.delete(f"/api/jobs/{gated}")).status_code in (200, 202)
        for job_id in done + [retried]:
            await wait_state(http, job_id, "completed")
        for job_id in failed:
            await wait_state(http, job_id, "failed")
        await wait_state(http, gated, "cancelled")
        watcher = await Watcher(stack.url).connect()
        try:
            assert (await watcher.join(done[0]))["ok"]
            web = scrape(f"{stack.url}/metrics")
        finally:
            await watcher.close()

    def settled() -> bool:  # the last job's end is counted just after it is recorded
        worker = scrape(f"http://127.0.0.1:{port}/metrics")
        return value(worker, "jobcast_jobs_finished_total", job="gate", state="cancelled") == 1
    wait_for(settled, timeout=10, what="the cancel counted")
    worker = scrape(f"http://127.0.0.1:{port}/metrics")
    finished = "jobcast_jobs_finished_total"
    assert value(worker, finished, job="bulk", state="completed") == 4
    assert value(worker, finished, job="boom", state="failed") == 2
    assert value(worker, finished, job="flaky", state="completed") == 1
    assert value(worker, "jobcast_jobs_retried_total", job="flaky") == 2
    assert value(worker, "jobcast_job_duration_seconds_count", job="bulk") == 4
    assert value(worker, "jobcast_job_duration_seconds_count", job="flaky") == 3  # each run
    assert value(worker, "jobcast_job_wait_seconds_count", job="bulk") == 4  # first runs
    assert value(worker, "jobcast_jobs_in_progress", job="bulk") == 0

    assert value(web, "jobcast_enqueue_requests_total", job="bulk", code="202") == 4
    assert value(web, "jobcast_enqueue_requests_total", job="bulk", code="422") == 1
    assert value(web, "jobcast_enqueue_requests_total", job="", code="404") == 1
    assert value(web, "jobcast_queue_jobs", queue="bulk", state="completed") == 4
    assert value(web, "jobcast_queue_jobs", queue="boom", state="failed") == 2
    assert value(web, "jobcast_sockets") == 1
    assert value(web, "jobcast_bridge_connected") == 1
    assert value(web, "jobcast_bridge_resyncs_total") == 0


def test_only_this_machine_or_the_token_may_scrape() -> None:
    with Stack(JOBCAST_METRICS_TOKEN="scrape-" + "t" * 20) as stack:
        stack.start_web()
        status = httpx.get(f"{stack.url}/metrics")
        assert status.status_code == 401 and status.headers["www-authenticate"] == "Bearer"
        bad = httpx.get(f"{stack.url}/metrics", headers={"authorization": "Bearer nope"})
        assert bad.status_code == 401
        good = httpx.get(f"{stack.url}/metrics",
                         headers={"authorization": f"Bearer scrape-{'t' * 20}"})
        assert good.status_code == 200 and "jobcast_queue_jobs" in good.text
    # Without a token, a client that is not on this machine is refused: behind the test's
    # trusted proxy setting, X-Forwarded-For names such a client.
    with Stack(JOBCAST_FORWARDED_ALLOW_IPS="127.0.0.1") as stack:
        stack.start_web()
        assert httpx.get(f"{stack.url}/metrics").status_code == 200
        remote = httpx.get(f"{stack.url}/metrics", headers={"x-forwarded-for": "203.0.113.9"})
        assert remote.status_code == 403 and "JOBCAST_METRICS_TOKEN" in remote.json()["error"]


def test_a_taken_metrics_port_stops_the_worker_with_a_reason() -> None:
    port = free_port()
    with socket.socket() as taken, Stack() as stack:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        worker = Proc(["worker"], {**stack.env, "JOBCAST_METRICS_PORT": str(port)}).start()
        assert worker.process is not None and worker.process.wait(20) == 2
        assert f"JOBCAST_METRICS_PORT={port}: cannot listen" in worker.output()

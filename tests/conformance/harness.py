"""The differential conformance harness (conftest.py registers its fixtures): each scenario
runs twice on one Redis, once with a Node
BullMQ 6.7.0 worker (the oracle, tests/conformance/node, pinned by its lockfile) and once with
jobcast's, and makes the same assertions on both. Jobs are produced and read back through Node
BullMQ's own Queue/Job API (node/producer.js), so both workers are judged by what a Node
application sees.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support import RedisServer, jobcast_env, require_tool, wait_for

NODE = Path(__file__).resolve().parent / "node"
IMPLS = ["node", "jobcast"]


@pytest.fixture(scope="session")
def node_modules() -> Path:
    require_tool("node", "the conformance oracle is Node BullMQ 6.7.0")
    if not (NODE / "node_modules" / "bullmq").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE, check=True,
                       timeout=300)
    return NODE / "node_modules"


class Producer:
    """node/producer.js: one JSON request per line, one JSON answer per line."""

    def __init__(self, redis_url: str) -> None:
        self.process = subprocess.Popen(["node", str(NODE / "producer.js"), redis_url], cwd=NODE,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def __call__(self, op: str, **request: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **request}) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        if not answer["ok"]:
            raise RuntimeError(f"{op}: {answer['error']}")
        return answer["result"]

    def job(self, queue: str, job_id: str) -> dict[str, Any]:
        found = self("job", queue=queue, id=job_id)
        assert found is not None, f"job {queue}/{job_id} is gone"
        return dict(found)

    def wait(self, queue: str, job_id: str, *states: str, timeout: float = 30) -> dict[str, Any]:
        box: dict[str, Any] = {}

        def reached() -> bool:
            box["job"] = self.job(queue, job_id)
            return box["job"]["state"] in states

        wait_for(reached, timeout=timeout, what=f"{queue}/{job_id} in {states}")
        return box["job"]

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(10)


@pytest.fixture(scope="session")
def conformance_redis(redis_server: RedisServer) -> str:
    return redis_server.url.replace("/0", "/3")


@pytest.fixture(scope="session")
def producer(node_modules: Path, conformance_redis: str) -> Iterator[Producer]:
    p = Producer(conformance_redis)
    yield p
    p.close()


class WorkerProc:
    """A Node or a jobcast worker on some queues, started and stopped by the test."""

    def __init__(self, impl: str, argv: list[str], env: dict[str, str], cwd: Path | None) -> None:
        self.impl = impl
        self.log = Path(f"/tmp/jobcast-conformance-{uuid.uuid4().hex[:8]}.log")
        self.process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self.log.open("w"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: "ready" in self.output() or self.process.poll() is not None,
                 timeout=30, what=f"{impl} worker ready")
        # A "die" job kills its worker at once, possibly before it said ready: not a failure.
        assert "ready" in self.output() or self.process.returncode == -signal.SIGKILL, \
            self.output()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


StartWorker = Callable[..., WorkerProc]


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def start_worker(impl: str, node_modules: Path, conformance_redis: str
                 ) -> Iterator[StartWorker]:
    """``start_worker(queue, **opts)`` with Node Worker options (lockDuration, stalledInterval,
    maxStalledCount, concurrency, limiter, metrics, backoff="mine"), mapped to jobcast's settings
    for the jobcast worker. Several queues: a comma-separated name."""
    started: list[WorkerProc] = []

    def start(queue: str, names: str = "", **opts: Any) -> WorkerProc:
        if impl == "node":
            procs = []
            for q in queue.split(","):
                config = {"redis": conformance_redis, "queue": q,
                          "backoff": opts.pop("backoff", None) if q == queue.split(",")[-1] else
                          opts.get("backoff"), "opts": {"drainDelay": 1, "name": "oracle", **opts}}
                procs.append(WorkerProc("node", ["node", str(NODE / "worker.js"), json.dumps(config)],
                                        dict(os.environ), NODE))
            started.extend(procs)
            return procs[0]
        # Every progress update forwarded, as Node does (jobcast coalesces by default).
        env = jobcast_env(conformance_redis, JOBCAST_JOBS="conformance_jobs:jobs",
                          CONF_QUEUE=queue, CONF_NAMES=names, JOBCAST_PROGRESS_INTERVAL_MS="0")
        env.pop("JOBCAST_LOCK_DURATION_MS")
        env.pop("JOBCAST_STALLED_INTERVAL_MS")
        settings = {"lockDuration": "JOBCAST_LOCK_DURATION_MS",
                    "stalledInterval": "JOBCAST_STALLED_INTERVAL_MS",
                    "maxStalledCount": "JOBCAST_MAX_STALLED_COUNT",
                    "concurrency": "JOBCAST_CONCURRENCY"}
        for key, value in opts.items():
            if key in settings:
                env[settings[key]] = str(value)
            elif key == "limiter":
                env["CONF_LIMITER"] = f"{value['max']}/{value['duration']}"
            elif key == "metrics":
                env["JOBCAST_METRICS_DATA_POINTS"] = str(value["maxDataPoints"])
            elif key != "backoff":
                raise AssertionError(f"no jobcast setting for the Node option {key}")
        proc = WorkerProc("jobcast", [sys.executable, "-m", "jobcast", "worker"], env, None)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def queue_name(impl: str) -> str:
    """A fresh queue per test and implementation: scenarios never see each other's jobs."""
    return f"cf{impl[0]}{uuid.uuid4().hex[:8]}"


def stream(redis_url: str, queue: str) -> list[dict[str, str]]:
    """The queue's event stream, as written by BullMQ's scripts."""
    import redis as redis_py

    with redis_py.Redis.from_url(redis_url, decode_responses=True) as db:
        return [dict(fields, _ms=entry.split("-")[0]) for entry, fields in
                db.xrange(f"bull:{queue}:events")]


def started_at(jobs: list[dict[str, Any]]) -> list[float]:
    """The jobs' start times (processedOn, set by moveToActive), in seconds from the first."""
    times = sorted(j["processedOn"] for j in jobs)
    return [round((t - times[0]) / 1000, 3) for t in times]


def most_in_a_window(starts: list[float], window: float) -> int:
    return max(sum(1 for t in starts if s <= t < s + window) for s in starts)


def now_ms() -> int:
    return int(time.time() * 1000)


def node_worker(conformance_redis: str, queue: str, **opts: Any) -> WorkerProc:
    """A Node BullMQ 6.7.0 worker on ``queue`` (for the scenarios across the two systems)."""
    config = {"redis": conformance_redis, "queue": queue,
              "opts": {"drainDelay": 1, "name": "oracle", **opts}}
    return WorkerProc("node", ["node", str(NODE / "worker.js"), json.dumps(config)],
                      dict(os.environ), NODE)


def jobcast_env_for(conformance_redis: str, queue: str, **extra: str) -> dict[str, str]:
    """The environment of a jobcast web or worker serving the conformance jobs on ``queue``."""
    return jobcast_env(conformance_redis, JOBCAST_JOBS="conformance_jobs:jobs", CONF_QUEUE=queue,
                       JOBCAST_PROGRESS_INTERVAL_MS="0", **extra)

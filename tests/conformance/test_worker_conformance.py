"""Every behaviour of a Node BullMQ 6.7.0 worker, run twice on one Redis: once with the Node
worker (the oracle) and once with jobcast's, with the same assertions. Jobs are added and read
back with Node BullMQ's own Queue, FlowProducer and Job API (node/producer.js)."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from harness import Producer, StartWorker, most_in_a_window, started_at, stream

from support import wait_for

FAST_STALLS = {"lockDuration": 1000, "stalledInterval": 500}


def add(producer: Producer, queue: str, data: dict[str, Any], **opts: Any) -> str:
    return str(producer("add", queue=queue, name=queue, data=data, opts=opts))


def test_completion_progress_and_the_fields_a_job_keeps(
        producer: Producer, start_worker: StartWorker, queue_name: str) -> None:
    start_worker(queue_name)
    ok = add(producer, queue_name, {"do": "ok", "value": {"n": 7}})
    prog = add(producer, queue_name, {"do": "progress", "values": [10, 50, 90], "ms": 30})
    done = producer.wait(queue_name, ok, "completed")
    assert done["returnvalue"] == {"n": 7} and done["attemptsMade"] == 1
    assert done["attemptsStarted"] == 1 and done["stacktrace"] == []
    assert done["processedBy"]  # the worker's name, which moveToActive stores as "pb"
    progressed = producer.wait(queue_name, prog, "completed")
    assert progressed["progress"] == 90
    events = [e for e in stream(producer_url(producer), queue_name) if e.get("jobId") == prog]
    assert [e["data"] for e in events if e["event"] == "progress"] == ["10", "50", "90"]
    assert [e["event"] for e in events if e["event"] in ("active", "completed")] == [
        "active", "completed"]


def test_a_job_whose_worker_keeps_dying_fails_after_max_stalled_count(
        producer: Producer, start_worker: StartWorker, queue_name: str) -> None:
    job_id = add(producer, queue_name, {"do": "die"}, attempts=3)
    deaths = 0
    while producer.job(queue_name, job_id)["state"] != "failed":
        worker = start_worker(queue_name, maxStalledCount=1, **FAST_STALLS)

        def settled(w: Any = worker) -> bool:
            return not w.alive() or producer.job(queue_name, job_id)["state"] == "failed"

        wait_for(settled, timeout=30, what="the worker dies or the job fails")
        if not worker.alive():
            deaths += 1
        else:
            worker.stop()
        assert deaths <= 3, "the job ran again and again"
    job = producer.job(queue_name, job_id)
    # Run twice (the first run, and once after its first stall), then failed without running.
    assert deaths == 2
    assert job["failedReason"] == "job stalled more than allowable limit"
    assert job["stalledCounter"] == 2 and job["attemptsMade"] == 1
    assert len(job["stacktrace"]) == 1 and "job stalled more than allowable limit" in \
        job["stacktrace"][0]


def test_a_parent_whose_fail_parent_on_failure_child_failed_fails_without_running(
        producer: Producer, start_worker: StartWorker, queue_name: str) -> None:
    parents, kids = f"{queue_name}p", f"{queue_name}k"
    start_worker(f"{parents},{kids}")
    tree = producer("flow", tree={
        "name": parents, "queueName": parents, "data": {"do": "children"},
        "children": [
            {"name": kids, "queueName": kids, "data": {"do": "ok", "value": 1}},
            {"name": kids, "queueName": kids, "data": {"do": "fail", "message": "kid broke"},
             "opts": {"failParentOnFailure": True}},
        ]})
    bad = tree["children"][1]["id"]
    parent = producer.wait(parents, tree["id"], "failed")
    assert parent["failedReason"] == f"child bull:{kids}:{bad} failed"
    assert parent["returnvalue"] is None and parent["attemptsMade"] == 1
    assert producer.job(kids, bad)["failedReason"] == "kid broke"


def test_a_parent_reads_its_childrens_results_and_ignored_failures(
        producer: Producer, start_worker: StartWorker, queue_name: str) -> None:
    parents, kids = f"{queue_name}p", f"{queue_name}k"
    start_worker(f"{parents},{kids}")
    tree = producer("flow", tree={
        "name": parents, "queueName": parents, "data": {"do": "children"},
        "children": [
            {"name": kids, "queueName": kids, "data": {"do": "ok", "value": {"a": 1}}},
            {"name": kids, "queueName": kids, "data": {"do": "ok", "value": [2]}},
            {"name": kids, "queueName": kids, "data": {"do": "fail", "message": "skip me"},
             "opts": {"ignoreDependencyOnFailure": True}},
        ]})
    a, b, skipped = (c["id"] for c in tree["children"])
    parent = producer.wait(parents, tree["id"], "completed", "failed")
    assert parent["state"] == "completed", parent["failedReason"]
    assert parent["returnvalue"] == {
        "children": {f"bull:{kids}:{a}": {"a": 1}, f"bull:{kids}:{b}": [2]},
        "failed": {f"bull:{kids}:{skipped}": "skip me"}}


def test_a_job_scheduler_runs_every_second(producer: Producer, start_worker: StartWorker,
                                           queue_name: str) -> None:
    start_worker(queue_name)
    producer("scheduler", queue=queue_name, id="tick", repeat={"every": 1000},
             template={"name": queue_name, "data": {"do": "ok"}})
    time.sleep(6)
    producer("removeScheduler", queue=queue_name, id="tick")
    runs = [j for j in producer("jobs", queue=queue_name, types=["completed"], limit=100)
            if j.startswith("repeat:tick:")]
    assert 5 <= len(runs) <= 7, runs  # Node: 6 runs in 6 s, the first at once


def test_a_global_rate_limit_waits_exactly_its_window(
        producer: Producer, start_worker: StartWorker, queue_name: str) -> None:
    producer("globalRateLimit", queue=queue_name, max=2, duration=1000)
    ids = [add(producer, queue_name, {"do": "ok"}) for _ in range(8)]
    start_worker(queue_name, concurrency=10)
    jobs = [producer.wait(queue_name, i, "completed", timeout=20) for i in ids]
    starts = started_at(jobs)
    assert 2.5 <= starts[-1] <= 4.5, starts  # 2, 2, 2, 2 a second: ~3 s, not 5 s waits
    assert most_in_a_window(starts, 0.9) <= 2, starts


def test_a_worker_limiter_starts_at_most_max_per_duration(
        producer: Producer, start_worker: StartWorker, queue_name: str) -> None:
    ids = [add(producer, queue_name, {"do": "ok"}) for _ in range(6)]
    start_worker(queue_name, concurrency=10, limiter={"max": 2, "duration": 1000})
    starts = started_at([producer.wait(queue_name, i, "completed", timeout=20) for i in ids])
    assert 1.7 <= starts[-1] <= 3.5, starts
    assert most_in_a_window(starts, 0.9) <= 2, starts


def test_a_rate_limit_error_puts_the_job_back_without_using_an_attempt(
        producer: Producer, start_worker: StartWorker, queue_name: str) -> None:
    job_id = add(producer, queue_name, {"do": "ratelimit", "ms": 800}, attempts=1)
    later = add(producer, queue_name, {"do": "ok"})
    start_worker(queue_name, concurrency=2, limiter={"max": 10, "duration": 1000})
    job = producer.wait(queue_name, job_id, "completed", "failed", timeout=20)
    assert job["state"] == "completed" and job["returnvalue"] == {"attempt": 2}
    assert job["attemptsMade"] == 1 and job["attemptsStarted"] == 2
    assert job["finishedOn"] - job["timestamp"] >= 700  # it waited out the limit
    assert producer.wait(queue_name, later, "completed")["returnvalue"] == {"ok": True}


def test_a_custom_backoff_strategy_sets_the_retry_delays(
        producer: Producer, start_worker: StartWorker, queue_name: str) -> None:
    start_worker(queue_name, backoff="mine")
    job_id = add(producer, queue_name, {"do": "fail", "message": "again"}, attempts=3,
                 backoff={"type": "mine"})
    job = producer.wait(queue_name, job_id, "failed", timeout=20)
    assert job["attemptsMade"] == 3 and job["failedReason"] == "again"
    events = stream(producer_url(producer), queue_name)
    delayed = [e for e in events if e["event"] == "delayed" and e["jobId"] == job_id]
    waits = [int(e["delay"]) - int(e["_ms"]) for e in delayed]
    assert len(waits) == 2 and abs(waits[0] - 200) < 60 and abs(waits[1] - 400) < 60, waits


def test_an_unrecoverable_error_skips_the_remaining_attempts(
        producer: Producer, start_worker: StartWorker, queue_name: str) -> None:
    start_worker(queue_name)
    job_id = add(producer, queue_name, {"do": "unrecoverable", "message": "never again"},
                 attempts=5)
    job = producer.wait(queue_name, job_id, "failed")
    assert job["attemptsMade"] == 1 and job["failedReason"] == "never again"
    events = [e["event"] for e in stream(producer_url(producer), queue_name)
              if e.get("jobId") == job_id]
    assert "retries-exhausted" not in events and "delayed" not in events


def test_failed_reason_is_the_message_and_each_attempt_keeps_its_stack(
        producer: Producer, start_worker: StartWorker, queue_name: str) -> None:
    start_worker(queue_name)
    job_id = add(producer, queue_name, {"do": "fail", "message": "boom"}, attempts=2)
    job = producer.wait(queue_name, job_id, "failed")
    assert job["failedReason"] == "boom" and job["attemptsMade"] == 2
    assert len(job["stacktrace"]) == 2
    for stack in job["stacktrace"]:
        first = stack.splitlines()[0]
        assert first.endswith("Error: boom"), stack  # Node "Error: boom", Python "ValueError: boom"
        assert len(stack.splitlines()) > 1  # with the frames that raised it
    events = [e["event"] for e in stream(producer_url(producer), queue_name)
              if e.get("jobId") == job_id]
    assert events.count("failed") == 1 and "retries-exhausted" in events


def test_job_logs_and_names_routed_on_one_queue(
        producer: Producer, start_worker: StartWorker, queue_name: str, impl: str) -> None:
    start_worker(queue_name, names="resize,crop") if impl == "jobcast" else start_worker(queue_name)
    logs = add(producer, queue_name, {"do": "log", "lines": ["one", "two", "three"]})
    crop = str(producer("add", queue=queue_name, name="crop", data={"do": "name"}))
    assert producer.wait(queue_name, logs, "completed")["logs"] == ["one", "two", "three"]
    assert producer.wait(queue_name, crop, "completed")["returnvalue"] == {"name": "crop"}
    kept = add(producer, queue_name, {"do": "log", "lines": ["a", "b", "c", "d"]}, keepLogs=2)
    assert producer.wait(queue_name, kept, "completed")["logs"] == ["c", "d"]


def test_workers_are_counted_by_bullmqs_get_workers(
        producer: Producer, start_worker: StartWorker, queue_name: str) -> None:
    assert producer("workers", queue=queue_name) == []
    worker = start_worker(queue_name)
    names = producer("workers", queue=queue_name)
    assert len(names) == 1, names
    assert names[0].startswith(f"bull:{base64.b64encode(queue_name.encode()).decode()}")
    worker.stop()
    wait_for(lambda: producer("workers", queue=queue_name) == [], timeout=10, what="gone")


def test_metrics_count_finished_jobs(producer: Producer, start_worker: StartWorker,
                                     queue_name: str) -> None:
    start_worker(queue_name, metrics={"maxDataPoints": 10})
    ids = [add(producer, queue_name, {"do": "ok"}) for _ in range(4)]
    fail = add(producer, queue_name, {"do": "fail"})
    for job_id in ids:
        producer.wait(queue_name, job_id, "completed")
    producer.wait(queue_name, fail, "failed")
    assert producer("metrics", queue=queue_name, type="completed")["meta"]["count"] == 4
    assert producer("metrics", queue=queue_name, type="failed")["meta"]["count"] == 1


def test_pause_priorities_delays_deduplication_and_retention_as_in_bullmq(
        producer: Producer, start_worker: StartWorker, queue_name: str) -> None:
    producer("pause", queue=queue_name)
    low = add(producer, queue_name, {"do": "ok", "value": "low"}, priority=10)
    high = add(producer, queue_name, {"do": "ok", "value": "high"}, priority=1)
    delayed = add(producer, queue_name, {"do": "ok", "value": "later"}, delay=600)
    first = add(producer, queue_name, {"do": "ok"}, deduplication={"id": "once"})
    second = add(producer, queue_name, {"do": "ok"}, deduplication={"id": "once"})
    assert first == second
    start_worker(queue_name, concurrency=1)
    time.sleep(0.5)
    assert producer.job(queue_name, high)["state"] == "prioritized"  # paused: nothing ran
    producer("resume", queue=queue_name)
    done = {i: producer.wait(queue_name, i, "completed") for i in (low, high, delayed, first)}
    assert done[high]["processedOn"] <= done[low]["processedOn"]  # priority 1 before 10
    assert done[delayed]["processedOn"] - done[delayed]["timestamp"] >= 550
    kept = [add(producer, queue_name, {"do": "ok"}, removeOnComplete=1) for _ in range(3)]
    wait_for(lambda: producer("job", queue=queue_name, id=kept[-1]) is not None
             and producer.job(queue_name, kept[-1])["state"] == "completed", timeout=20,
             what="the last kept job done")
    assert [producer("job", queue=queue_name, id=i) is None for i in kept] == [True, True, False]


def producer_url(producer: Producer) -> str:
    args = producer.process.args
    assert isinstance(args, list)
    return str(args[2])


@pytest.fixture(autouse=True)
def _note_impl(impl: str) -> None:
    """Which worker ran the scenario is in the test id: [node] or [jobcast]."""

"""Socket.IO: rooms by job id, late joins, exactly one terminal event, failures, coalescing."""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from jobcast._bullmq import QueueKeys, calls
from jobcast.redis import FastRedis, parse_redis_url
from support import Stack, Watcher, start_job, wait_state


async def barrier(http: httpx.AsyncClient, watcher: Watcher) -> None:
    """Run one more job to its end: the bridge emits stream events in order, so any duplicate
    of an earlier job's terminal event would have reached the watcher before this one's."""
    job_id = await start_job(http, "bulk", {"items": 1})
    assert (await watcher.join(job_id))["ok"]
    assert (await watcher.wait_terminal(job_id, timeout=30))[0] == "bulk:completed"


async def test_progress_then_one_completed(http: httpx.AsyncClient, watcher: Watcher) -> None:
    job_id = await start_job(http, "bulk", {"items": 20, "item_ms": 25})
    ack = await watcher.join(job_id)
    assert ack["ok"] is True and ack["state"] in ("waiting", "active")
    event, data = await watcher.wait_terminal(job_id)
    assert event == "bulk:completed"
    assert data == {"jobId": job_id, "result": {"items": 20}, "state": "completed"}
    progress = watcher.progress(job_id)
    assert len(progress) >= 2, progress  # the snapshot, then live updates
    assert progress == sorted(progress) and progress[-1] == 100
    assert watcher.kinds(job_id)[-1] == "completed"


async def test_events_reach_only_their_room(http: httpx.AsyncClient, stack: Stack) -> None:
    a, b = await Watcher(stack.url).connect(), await Watcher(stack.url).connect()
    try:
        job_a = await start_job(http, "bulk", {"items": 10, "item_ms": 20})
        job_b = await start_job(http, "bulk", {"items": 10, "item_ms": 20})
        await a.join(job_a)
        await b.join(job_b)
        await a.wait_terminal(job_a)
        await b.wait_terminal(job_b)
        assert set(a.events) == {job_a}
        assert set(b.events) == {job_b}
    finally:
        await a.close()
        await b.close()


async def test_late_join_gets_the_terminal_event_once(http: httpx.AsyncClient,
                                                      watcher: Watcher) -> None:
    job_id = await start_job(http, "bulk", {"items": 1})
    await wait_state(http, job_id, "completed")
    ack = await watcher.join(job_id)
    assert ack == {"ok": True, "state": "completed", "output": 0, "logs": 0}
    end = ("bulk:completed", {"jobId": job_id, "result": {"items": 1}, "state": "completed"})
    assert await watcher.wait_terminal(job_id) == end
    # The same socket joining again (a second watch of a finished job) gets it again, once:
    # exactly once per join, not once per connection.
    again = await watcher.join(job_id)
    assert again == {"ok": True, "state": "completed", "output": 0, "logs": 0}
    assert await watcher.wait_terminal(job_id, count=2) == end
    await barrier(http, watcher)
    assert watcher.terminal(job_id) == [end, end]


async def test_racing_snapshot_and_live_event_deliver_exactly_once(
    http: httpx.AsyncClient, stack: Stack
) -> None:
    """Jobs finish around the moment the client joins; each must arrive exactly once."""
    watchers = [await Watcher(stack.url).connect() for _ in range(4)]
    try:
        async def one(w: Watcher) -> str:
            job_id = await start_job(http, "bulk", {"items": 1})
            w.client.start_background_task(w.join, job_id)
            await w.wait_terminal(job_id)
            return job_id

        ids = await asyncio.gather(*(one(w) for w in watchers for _ in range(40)))
        for w in watchers:  # events reach a socket in order: a duplicate would come first
            await barrier(http, w)
        for w in watchers:
            for job_id in w.events:
                assert len(w.terminal(job_id)) == 1, w.events[job_id]
        assert len(set(ids)) == 160
    finally:
        for w in watchers:
            await w.close()


async def test_a_failure_carries_a_clean_reason(http: httpx.AsyncClient, watcher: Watcher,
                                                stack: Stack) -> None:
    job_id = await start_job(http, "boom", {"message": "bad\nthings happened"})
    await watcher.join(job_id)
    event, data = await watcher.wait_terminal(job_id)
    assert event == "boom:failed"
    # The message, as Node's err.message; the type and traceback go to the job's stacktrace.
    assert data == {"jobId": job_id, "reason": "bad things happened", "state": "failed"}
    status = (await http.get(f"/api/jobs/{job_id}")).json()
    assert status["state"] == "failed" and status["reason"] == data["reason"]
    # BullMQ's stacktrace field holds the handler's own stack, for Bull Board and the logs.
    stacks = json.loads(stack.db.hget(f"bull:boom:{job_id}", "stacktrace"))
    assert len(stacks) == 1 and "ValueError: bad\nthings happened" in stacks[0]
    assert "in boom" in stacks[0] and "jobcast/worker" not in stacks[0]

    clean = await start_job(http, "boom", {"message": "Card declined", "clean": True})
    await watcher.join(clean)
    assert (await watcher.wait_terminal(clean))[1]["reason"] == "Card declined"


async def test_a_cpu_bound_failure_is_clean_too(http: httpx.AsyncClient, watcher: Watcher) -> None:
    job_id = await start_job(http, "spin", {"seconds": 0.2, "fail": True})
    await watcher.join(job_id)
    event, data = await watcher.wait_terminal(job_id)
    assert event == "spin:failed"
    assert data["reason"] == "spun out with a second line"


async def test_progress_floods_are_coalesced(http: httpx.AsyncClient, watcher: Watcher) -> None:
    job_id = await start_job(http, "flood", {"calls": 200_000})
    await watcher.join(job_id)
    event, _ = await watcher.wait_terminal(job_id)
    assert event == "flood:completed"
    progress = watcher.progress(job_id)
    assert len(progress) < 100, len(progress)
    assert progress[-1] == 100 and progress == sorted(progress)


async def test_bad_joins_get_an_error_ack(stack: Stack, watcher: Watcher) -> None:
    for bad in (5, None, {"id": "x"}, "x" * 100_000, "a/b", ""):
        ack = await watcher.join(bad)
        assert ack["ok"] is False and ack["error"], (str(bad)[:30], ack)
    assert watcher.client.connected


async def test_a_socket_can_watch_a_job_before_it_exists(http: httpx.AsyncClient,
                                                         watcher: Watcher, stack: Stack) -> None:
    """A Node producer may add the job a moment after the browser joined its room."""
    job_id = "order-" + str(time.monotonic_ns())
    assert await watcher.join(job_id) == {"ok": True, "state": "unknown", "output": 0, "logs": 0}
    await add_bulk_job(stack, job_id, items=3)
    event, data = await watcher.wait_terminal(job_id)
    assert event == "bulk:completed" and data == {"jobId": job_id, "result": {"items": 3},
                                                  "state": "completed"}
    assert watcher.progress(job_id)[-1] == 100
    body = (await http.get(f"/api/jobs/{job_id}")).json()
    assert body["state"] == "completed" and body["job"] == "bulk"


async def add_bulk_job(stack: Stack, job_id: str, items: int) -> None:
    """A job with a producer's own id, added as BullMQ's addStandardJob does (a Node Queue.add)."""
    fast = FastRedis(parse_redis_url(stack.redis.url))
    try:
        await fast.run(*calls.add_job(QueueKeys("bull", "bulk"), job_id, "bulk",
                                      json.dumps({"items": items}),
                                      {"attempts": 0, "jobId": job_id}, int(time.time() * 1000)))
    finally:
        await fast.aclose()


async def test_cpu_job_longer_than_the_lock_is_not_stalled(
    http: httpx.AsyncClient, watcher: Watcher, stack: Stack
) -> None:
    """Lock duration is 5 s in the tests; the job computes for 7 s in its own process."""
    job_id = await start_job(http, "spin", {"seconds": 7})
    await watcher.join(job_id)
    event, data = await watcher.wait_terminal(job_id, timeout=30)
    assert event == "spin:completed" and data["result"] == {"seconds": 7}
    assert stack.db.hget(f"bull:spin:{job_id}", "ats") == "1"
    assert stack.db.hget(f"bull:spin:{job_id}", "stc") in (None, "", "0")
    stalled = [f for _, f in stack.db.xrange("bull:spin:events") if f.get("event") == "stalled"]
    assert stalled == []
    assert len(watcher.progress(job_id)) >= 3  # progress travelled back from the child

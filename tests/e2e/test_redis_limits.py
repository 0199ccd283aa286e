"""Redis at its limits: full (maxmemory with noeviction), set to evict, and results too big to
keep. A clear answer each time, nothing half-written, and everything recovers."""

from __future__ import annotations

import httpx
import redis as redis_py

from support import RedisServer, Stack, wait_for


def fill(db: redis_py.Redis) -> None:
    """Redis full: maxmemory set below what it uses (noeviction), so every write is refused
    until it is raised again, whatever the processes' own keys do meanwhile."""
    used = int(db.info("memory")["used_memory"])
    db.config_set("maxmemory", str(max(1, used // 2)))
    try:
        db.set("junk", "x")
    except redis_py.exceptions.OutOfMemoryError:
        return
    raise AssertionError("Redis still takes writes")


def bull_keys(db: redis_py.Redis) -> dict[str, object]:
    return {k: db.type(k) for k in db.scan_iter("bull:*") if not k.endswith(":events")}


async def test_a_full_redis_refuses_jobs_with_a_clear_503_and_recovers() -> None:
    redis = RedisServer().start()
    with Stack(redis) as stack:
        worker = stack.start_worker()
        plain = stack.start_web()
        owners = stack.start_web(app="owner_app:app")
        async with httpx.AsyncClient(timeout=10) as http:
            first = await http.post(f"{plain.url}/api/bulk", json={"items": 1})
            assert first.status_code == 202
            wait_for(lambda: stack.db.zcard("bull:bulk:completed") == 1, what="a job done")
            fill(stack.db)
            before = bull_keys(stack.db)
            for url, headers in ((plain.url, {}), (owners.url, {"cookie": "user=alice"})):
                refused = await http.post(f"{url}/api/bulk", json={"items": 1}, headers=headers)
                assert refused.status_code == 503, refused.text
                assert refused.headers["content-type"] == "application/json"
                body = refused.json()
                assert "full" in body["reason"] and "nothing was added" in body["reason"]
                assert refused.headers["retry-after"]
            assert bull_keys(stack.db) == before  # nothing half-written
            assert worker.alive()
            stack.db.config_set("maxmemory", "0")  # room again
            again = await http.post(f"{owners.url}/api/bulk", json={"items": 2},
                                    headers={"cookie": "user=alice"})
            assert again.status_code == 202, again.text
            job_id = again.json()["jobId"]
            wait_for(lambda: stack.db.hget(f"bull:bulk:{job_id}", "finishedOn") is not None,
                     timeout=20, what="a job after the space came back")


async def test_a_redis_that_may_evict_is_warned_about() -> None:
    redis = RedisServer("--maxmemory-policy", "allkeys-lru").start()
    with Stack(redis) as stack:
        worker = stack.start_worker()
        web = stack.start_web()
        warning = "maxmemory-policy is 'allkeys-lru'"
        wait_for(lambda: warning in worker.output(), timeout=10, what="the worker's warning")
        assert any(warning in w for w in web.readyz()["warnings"])
        assert warning in web.output()


async def test_results_that_cannot_be_kept_fail_the_job_clearly() -> None:
    with Stack(JOBCAST_JOBS="fault_jobs:jobs", JOBCAST_MAX_RESULT_BYTES="1000") as stack:
        stack.start_worker()
        web = stack.start_web()
        async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
            async def finish(data: dict[str, object]) -> dict[str, object]:
                job_id = (await http.post("/api/result", json=data)).json()["jobId"]
                wait_for(lambda: stack.db.hget(f"bull:result:{job_id}", "finishedOn"),
                         timeout=20, what="the job finished")
                return dict((await http.get(f"/api/jobs/{job_id}")).json())

            big = await finish({"kind": "big", "size": 5000})
            assert big["state"] == "failed" and "over the limit of 1000" in big["reason"]
            odd = await finish({"kind": "object"})
            assert odd["state"] == "failed" and "cannot be stored as JSON" in odd["reason"]
            rich = await finish({"kind": "rich"})
            assert rich["state"] == "completed", rich
            assert rich["result"] == {"when": "2026-12-01T12:00:00+00:00",
                                      "id": "12345678-1234-5678-1234-567812345678",
                                      "nan": None, "point": {"x": 1, "y": 2}}

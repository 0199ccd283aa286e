"""Configuration that used to split or lose things: a database in the URL's query string, a
Redis that comes after the web, and result files whose job was removed."""

from __future__ import annotations

from pathlib import Path

import httpx

from support import Proc, RedisServer, Stack, Web, start_job, until, wait_for


async def test_a_database_in_the_query_string_is_the_one_every_client_uses(tmp_path: Path) -> None:
    with Stack(JOBCAST_JOBS="fault_jobs:jobs") as stack:
        stack.env["REDIS_URL"] = f"redis://127.0.0.1:{stack.redis.port}?db=5"
        stack.start_worker()
        web = stack.start_web()
        async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
            job_id = await start_job(http, "gate", {"dir": str(tmp_path)})
            await until(lambda: (tmp_path / "runs").exists(), what="running")
            cancelled = await http.delete(f"/api/jobs/{job_id}")
            assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
            await until(lambda: (tmp_path / "stopped").exists(), what="the worker stopped it")
        with stack.redis.client(db=5) as db5:
            assert db5.exists(f"bull:gate:{job_id}")
        assert not list(stack.db.scan_iter("bull:*"))  # nothing landed in db 0


async def test_stream_bounds_are_set_when_redis_comes_after_the_web() -> None:
    redis = RedisServer().start()
    redis.stop()
    with Stack(redis, JOBCAST_MAX_EVENTS="321") as stack:
        late = Web(stack.env)
        stack.procs.append(late)
        Proc.start(late)  # the process only: it cannot be ready while Redis is not there
        redis.start()
        wait_for(late.ready, timeout=30, what="the web ready once Redis is there")
        wait_for(lambda: stack.db.hget("bull:bulk:meta", "opts.maxLenEvents") == "321",
                 timeout=10, what="the stream bound applied on connect")


async def test_result_files_go_with_their_job(tmp_path: Path) -> None:
    with Stack(JOBCAST_JOBS="fault_jobs:jobs", JOBCAST_KEEP_COMPLETED="1",
               JOBCAST_RESULT_TTL_S="4") as stack:
        stack.start_worker()
        web = stack.start_web()
        results = Path(stack.env["JOBCAST_RESULTS_DIR"])
        async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
            ids = []
            for _ in range(3):
                ids.append(await start_job(http, "filejob", {}))
                await until(lambda: stack.db.hget(f"bull:filejob:{ids[-1]}", "finishedOn"),
                            what="done")
            # Only the newest job is kept (removeOnComplete count 1): the others' files go too,
            # long before their own retention, and the kept one is still downloadable.
            await until(lambda: sorted(p.name for p in results.iterdir()) == [f"{ids[-1]}.txt"],
                        timeout=15, what="the removed jobs' files swept")
            kept = await http.get(f"/api/jobs/{ids[-1]}/result")
            assert kept.status_code == 200 and kept.text == f"result of {ids[-1]}"

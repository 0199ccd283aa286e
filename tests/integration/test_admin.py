"""Queue administration (jobcast.admin) against a real redis-server: counts, pages, filters,
one job's record, and every action through BullMQ's own scripts. Jobs move between states
with the scripts a worker runs (moveToActive, moveToFinished), so each state holds what a real
worker leaves there. Paging 100k jobs is checked by what it reads, never by a clock."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest

from jobcast import Settings, load_jobs, names
from jobcast._bullmq import calls, next_job
from jobcast._bullmq.options import finish_opts
from jobcast.admin import SCAN_BUDGET, Admin, NotFound, Refused, Search
from jobcast.output.store import append_call
from jobcast.queue import JobQueue
from support import RedisServer

DB = 6
TOKEN = "jc-admin-test"
MINUTE = 60_000


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
async def admin(redis_server: RedisServer) -> AsyncIterator[Admin]:
    settings = Settings(redis_url=redis_server.url.replace("/0", f"/{DB}"))
    queue = JobQueue(load_jobs("sample_jobs:jobs"), settings)
    await queue.fast.call("FLUSHDB")
    await queue.prepare()
    yield Admin(queue)
    await queue.fast.aclose()


async def add(admin: Admin, queue: str, data: dict[str, Any], *, name: str | None = None,
              job_id: str | None = None, **opts: Any) -> str:
    """A job added as BullMQ's Queue.add does (delay, priority, any name and id)."""
    job_id = job_id or f"j{now_ms()}{len(str(data))}{id(data)}"
    added = await admin.fast.run(*calls.add_job(
        admin.keys[queue], job_id, name or queue, orjson.dumps(data).decode(),
        {"attempts": 1, **opts}, now_ms()))
    assert added == job_id
    return job_id


async def take(admin: Admin, queue: str) -> str:
    """What a worker does first: move the next job to active, locked with a jobcast token."""
    reply = await admin.fast.run(*calls.move_to_active(
        admin.keys[queue], now_ms(), calls.worker_opts(TOKEN, 30_000)))
    found = next_job(reply).job
    assert found is not None
    return found.id


async def finish(admin: Admin, queue: str, target: str, value: str = '{"ok":true}',
                 at: int | None = None, metrics: int | None = None,
                 fields: dict[str, Any] | None = None) -> str:
    """Take the next job and complete or fail it, as a worker does."""
    keys = admin.keys[queue]
    reply = await admin.fast.run(*calls.move_to_active(keys, now_ms(),
                                                       calls.worker_opts(TOKEN, 30_000)))
    job = next_job(reply).job
    assert job is not None
    done = await admin.fast.run(*calls.move_to_finished(
        keys, job.id, at or now_ms(), target, value, calls.worker_opts(TOKEN, 30_000), False,
        finish_opts(job, target, metrics), fields))
    assert done in (0, None, []) or isinstance(done, list), done
    return job.id


async def events(admin: Admin, queue: str) -> list[dict[str, str]]:
    entries = await admin.fast.call("XRANGE", admin.keys[queue].events, "-", "+")
    return [dict(zip(f[::2], f[1::2], strict=True)) for _, f in entries]


# -- counts and pages -----------------------------------------------------------------------------

async def test_counts_per_state_and_a_paused_queue_counts_its_waiting_jobs_as_paused(
        admin: Admin) -> None:
    for n in range(3):
        await add(admin, "bulk", {"items": n})
    await add(admin, "bulk", {"items": 9}, priority=3)
    await add(admin, "bulk", {"items": 8}, delay=60_000)
    await take(admin, "bulk")
    await finish(admin, "bulk", "completed")
    await finish(admin, "bulk", "failed", "boom")
    counts = (await admin.counts())["bulk"]
    assert (counts.waiting, counts.prioritized, counts.active, counts.delayed, counts.completed,
            counts.failed, counts.paused, counts.is_paused) == (1, 1, 1, 1, 1, 1, 0, False)
    assert set(await admin.counts()) == set(admin.queues)

    await admin.pause("bulk")
    paused = (await admin.counts(["bulk"]))["bulk"]
    assert (paused.waiting, paused.paused, paused.is_paused) == (0, 1, True)
    page = await admin.jobs("bulk", "paused")
    assert [j.state for j in page.jobs] == ["paused"] and (await admin.jobs("bulk", "waiting")
                                                           ).jobs == []
    assert await admin.fast.call("HGET", admin.keys["bulk"].meta, "paused") == "1"  # Node's flag
    await admin.resume("bulk")
    assert (await admin.counts(["bulk"]))["bulk"].waiting == 1
    kinds = [e["event"] for e in await events(admin, "bulk")]
    assert "paused" in kinds and "resumed" in kinds
    with pytest.raises(NotFound, match="unknown queue 'nope'"):
        await admin.counts(["nope"])


async def test_pages_list_newest_first_and_the_next_to_run_first(admin: Admin) -> None:
    waiting = [await add(admin, "bulk", {"items": n}, job_id=f"w{n}") for n in range(5)]
    urgent = await add(admin, "bulk", {"items": 99}, job_id="p1", priority=1)
    later = await add(admin, "bulk", {"items": 1}, job_id="d2", delay=120_000)
    sooner = await add(admin, "bulk", {"items": 1}, job_id="d1", delay=60_000)
    page = await admin.jobs("bulk", "waiting", limit=4)
    assert [j.id for j in page.jobs] == ["w4", "w3", "w2", "w1"]
    assert (page.total, page.next) == (6, 4)
    rest = await admin.jobs("bulk", "waiting", start=4, limit=4)
    assert [j.id for j in rest.jobs] == ["w0", urgent] and rest.next is None  # wait, then priority
    delayed = await admin.jobs("bulk", "delayed")
    assert [j.id for j in delayed.jobs] == [sooner, later]
    assert delayed.jobs[0].due_at is not None and delayed.jobs[0].due_at > now_ms() + 50_000
    row = page.jobs[0]
    assert (row.name, row.queue, row.state, row.preview) == (
        "bulk", "bulk", "waiting", '{"items":4}')
    assert waiting[4] == row.id
    for n in range(3):
        await finish(admin, "bulk", "completed", at=now_ms() + n)
    done = await admin.jobs("bulk", "completed")
    assert [j.id for j in done.jobs] == ["w2", "w1", "w0"]  # finished last, listed first
    assert all(j.finished_at for j in done.jobs)


async def test_filter_by_name_and_search_by_id_field_or_text(admin: Admin) -> None:
    await add(admin, "bulk", {"title": "Q3 report", "meta": {"region": "EU"}}, job_id="a1",
              name="report")
    await add(admin, "bulk", {"title": "q3 summary", "meta": {"region": "US"}}, job_id="a2",
              name="summary")
    await add(admin, "bulk", {"title": 'say "hi"', "n": 42}, job_id="a3", name="report")
    await add(admin, "bulk", {"title": "other"}, job_id="a4", name="report", delay=60_000)

    def ids(page: Any) -> list[str]:
        return [j.id for j in page.jobs]

    assert ids(await admin.jobs("bulk", "waiting", name="report")) == ["a3", "a1"]
    assert ids(await admin.jobs("bulk", "waiting", search="title:q3")) == ["a2", "a1"]
    assert ids(await admin.jobs("bulk", "waiting", search="TITLE: Q3",
                                name="summary")) == []  # the field is a path: case counts
    assert ids(await admin.jobs("bulk", "waiting", search="title:Q3", name="summary")) == ["a2"]
    assert ids(await admin.jobs("bulk", "waiting", search="meta.region=eu")) == ["a1"]
    assert ids(await admin.jobs("bulk", "waiting", search="n:42")) == ["a3"]
    assert ids(await admin.jobs("bulk", "waiting", search='title:say "hi"')) == ["a3"]
    assert ids(await admin.jobs("bulk", "waiting", search="summary")) == ["a2"]  # any text
    found = await admin.jobs("bulk", "waiting", search="a4")  # an id, in another state
    assert ids(found) == ["a4"] and found.jobs[0].state == "delayed"
    nothing = await admin.jobs("bulk", "waiting", search="title:nope")
    assert (nothing.jobs, nothing.next, nothing.scanned, nothing.filtered) == ([], None, 3, True)
    assert Search.parse("  ") is None and Search.parse("x:1") == Search("x:1", ("x",), "1")


async def test_a_filtered_page_scans_a_bounded_part_and_says_where_to_go_on(
        admin: Admin) -> None:
    keys = admin.keys["bulk"]
    total = SCAN_BUDGET * 2 + 500
    await seed(admin, keys.wait, "list", total, "bulk", needle_at={7: "report", total - 3: "report"})
    first = await admin.jobs("bulk", "waiting", name="report")
    assert [j.id for j in first.jobs] == [f"s{total - 1 - 7}"]  # newest first: index 7
    assert first.scanned == SCAN_BUDGET and first.next == SCAN_BUDGET
    second = await admin.jobs("bulk", "waiting", name="report", start=first.next or 0)
    assert second.jobs == [] and second.next == 2 * SCAN_BUDGET
    third = await admin.jobs("bulk", "waiting", name="report", start=second.next or 0)
    assert [j.id for j in third.jobs] == ["s2"] and third.next is None
    # A full page stops right after its last match: nothing between is skipped.
    page = await admin.jobs("bulk", "waiting", name="bulk", limit=3)
    assert [j.id for j in page.jobs] == [f"s{total - 1 - i}" for i in range(3)]
    assert page.next == 3


async def seed(admin: Admin, key: str, how: str, count: int, name: str,
               needle_at: dict[int, str] | None = None, finished: bool = False) -> None:
    """``count`` stored jobs s0..s<count-1> in one list or sorted set, written by one script
    (a BullMQ producer would take minutes); ``needle_at`` gives some (by page position,
    newest first) another name."""
    base = admin.keys["bulk"].base
    special = needle_at or {}
    script = """
    local base, how, count, name, finished = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
    local special = cjson.decode(ARGV[6])
    for i = 0, count - 1 do
      local id = "s" .. i
      local pos = tostring(count - 1 - i)
      local n = special[pos] or name
      redis.call("HSET", base .. id, "name", n, "data", '{"i":' .. i .. '}', "timestamp", 1000 + i,
                 "opts", '{"attempts":1}')
      if finished == "1" then
        redis.call("HSET", base .. id, "finishedOn", 2000 + i, "processedOn", 1500 + i,
                   "returnvalue", "1")
      end
      if how == "list" then redis.call("LPUSH", KEYS[1], id)
      else redis.call("ZADD", KEYS[1], 2000 + i, id) end
    end
    """
    await admin.fast.call("EVAL", script, 1, key, base, how, count, name,
                          "1" if finished else "0",
                          orjson.dumps({str(k): v for k, v in special.items()}).decode())


# -- 100k jobs in a state ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def big_redis() -> Iterator[RedisServer]:
    """A server of its own: its command statistics count this test's reads alone."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
async def big(big_redis: RedisServer) -> AsyncIterator[Admin]:
    queue = JobQueue(load_jobs("sample_jobs:jobs"), Settings(redis_url=big_redis.url))
    admin = Admin(queue)
    if await queue.fast.call("ZCARD", admin.keys["bulk"].completed) != 100_000:
        await queue.fast.call("FLUSHDB")
        await seed(admin, admin.keys["bulk"].completed, "zset", 100_000, "bulk", finished=True,
                   needle_at={99_990: "report"})
        await seed_list(admin, 100_000)
    yield admin
    await queue.fast.aclose()


async def seed_list(admin: Admin, count: int) -> None:
    await admin.fast.call("EVAL", """
    for i = 0, tonumber(ARGV[1]) - 1 do
      redis.call("HSET", ARGV[2] .. "w" .. i, "name", "bulk", "data", "{}", "timestamp", i)
      redis.call("LPUSH", KEYS[1], "w" .. i)
    end""", 1, admin.keys["bulk"].wait, count, admin.keys["bulk"].base)


class Recorder:
    """Every command the client sends (scripts' own commands are in Redis's statistics)."""

    def __init__(self, admin: Admin) -> None:
        self.sent: list[tuple[Any, ...]] = []
        fast = admin.fast
        pipeline, call = fast.pipeline, fast.call

        async def recorded_pipeline(*commands: tuple[Any, ...]) -> list[Any]:
            self.sent += commands
            return await pipeline(*commands)

        async def recorded_call(*args: Any) -> Any:
            self.sent.append(args)
            return await call(*args)

        fast.pipeline = recorded_pipeline  # type: ignore[method-assign]
        fast.call = recorded_call  # type: ignore[method-assign]

    def ranges(self) -> list[int]:
        """How many items each range command asked for."""
        sizes = []
        for command in self.sent:
            if command[0] in ("LRANGE", "ZRANGE", "ZREVRANGE"):
                lo, hi = int(command[2]), int(command[3])
                assert 0 <= lo <= hi, command  # never "to the end" (-1)
                sizes.append(hi - lo + 1)
        return sizes

    def script_keys(self) -> list[int]:
        return [int(c[2]) for c in self.sent if c[0] == "EVALSHA"]

    def unbounded(self) -> list[tuple[Any, ...]]:
        return [c for c in self.sent if c[0] in ("HGETALL", "SMEMBERS", "KEYS", "SCAN", "SORT",
                                                 "ZRANGEBYSCORE", "LRANGE") and
                (c[0] != "LRANGE" or int(c[3]) < 0)]


async def redis_reads(admin: Admin) -> dict[str, int]:
    """Calls per command since the last reset, scripts' own included (INFO commandstats)."""
    info = await admin.fast.call("INFO", "commandstats")
    counts = {}
    for line in str(info).splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line.partition(":")
            counts[name.removeprefix("cmdstat_")] = int(rest.split(",")[0].split("=")[1])
    return counts


@pytest.mark.parametrize("state", ["completed", "waiting"])
async def test_paging_100k_jobs_reads_one_page_of_them(big: Admin, state: str) -> None:
    await big.jobs("bulk", state, limit=1)  # Redis knows the script from now on
    for start in (0, 50_000, 99_975):
        recorder = Recorder(big)
        await big.fast.call("CONFIG", "RESETSTAT")
        page = await big.jobs("bulk", state, start=start, limit=25)
        reads = await redis_reads(big)
        prefix = "s" if state == "completed" else "w"
        assert [j.id for j in page.jobs] == [f"{prefix}{99_999 - start - i}" for i in range(25)]
        assert page.total == 100_000 and page.next == (start + 25 if start + 25 < 100_000 else None)
        assert recorder.ranges() == [25]  # one range of the page's size, nothing else
        assert recorder.script_keys() == [25] and not recorder.unbounded()
        # In Redis (scripts included): the page's 25 job hashes, each read once for its row.
        assert reads.get("hmget", 0) == 25 and reads.get("hget", 0) <= 26, reads
        assert sum(reads.values()) < 100, reads


async def test_a_filter_over_100k_jobs_reads_at_most_its_budget(big: Admin) -> None:
    await big.jobs("bulk", "completed", limit=1)
    recorder = Recorder(big)
    await big.fast.call("CONFIG", "RESETSTAT")
    page = await big.jobs("bulk", "completed", name="report")
    reads = await redis_reads(big)
    assert page.jobs == [] and page.scanned == SCAN_BUDGET and page.next == SCAN_BUDGET
    assert sum(recorder.ranges()) == SCAN_BUDGET and max(recorder.ranges()) <= 500
    assert reads.get("hmget", 0) == SCAN_BUDGET, reads
    # ... and goes on from there; the only match is found where it is (newest first: 99 990th).
    cursor: int | None = page.next
    while cursor is not None and not page.jobs:
        page = await big.jobs("bulk", "completed", name="report", start=cursor)
        cursor = page.next
    assert [j.id for j in page.jobs] == ["s9"]
    counts = (await big.counts(["bulk"]))["bulk"]
    assert (counts.completed, counts.waiting) == (100_000, 100_000)


# -- one job's record -----------------------------------------------------------------------------

async def test_a_jobs_record_has_data_progress_output_logs_result_stack_and_timings(
        admin: Admin) -> None:
    keys = admin.keys["writer"]
    job_id = await add(admin, "writer", {"count": 3}, attempts=2)
    assert await take(admin, "writer") == job_id
    await admin.fast.run(*calls.update_progress(
        keys, job_id, orjson.dumps({"percent": 40, "message": "page 2 of 5", "eta": 3}).decode()))
    await admin.fast.run(*append_call(keys, job_id, "output", ["hello ", "world"]))
    await admin.fast.run(*append_call(keys, job_id, "log", ["line one", "line two"]))
    running = await admin.job(None, job_id)
    assert running is not None
    row = running.row
    assert (row.queue, row.name, row.state, row.progress, row.message) == (
        "writer", "writer", "active", 40, "page 2 of 5")
    assert running.data == {"count": 3} and running.worker == "jobcast"
    assert running.output == [{"seq": 0, "text": "hello "}, {"seq": 1, "text": "world"}]
    assert [e["text"] for e in running.logs] == ["line one", "line two"]
    assert (running.output_count, running.log_count) == (2, 2)
    assert row.attempts == 2 and running.attempts_started == 1 and row.processed_at

    await admin.fast.run(*calls.move_to_finished(
        keys, job_id, now_ms(), "failed", "it broke", calls.worker_opts(TOKEN, 30_000), False,
        {"keepJobs": {"count": -1}, "attempts": 1, "maxMetricsSize": ""},
        {"stacktrace": orjson.dumps(["ValueError: it broke\n  at line 3"]).decode()}))
    failed = await admin.job("writer", job_id)
    assert failed is not None and failed.row.state == "failed"
    assert failed.row.reason == "it broke" and failed.stacktrace == [
        "ValueError: it broke\n  at line 3"]
    assert failed.row.finished_at and failed.worker is None
    payload = failed.to_json()
    assert payload["id"] == job_id and payload["reason"] == "it broke"
    assert await admin.job("writer", "no-such-job") is None
    assert await admin.job(None, "../bad id") is None


async def test_a_cancelled_waiting_job_reads_as_its_cancel_record(admin: Admin) -> None:
    job_id = await add(admin, "bulk", {"items": 1})
    await admin.cancel(job_id)
    record = await admin.job(None, job_id)
    assert record is not None and record.row.state == "cancelled" and record.row.queue == "bulk"
    with pytest.raises(NotFound):
        await admin.cancel("never-was")


# -- actions --------------------------------------------------------------------------------------

async def test_retry_puts_a_failed_job_back_and_clears_its_cancel_marks(admin: Admin) -> None:
    keys = admin.keys["bulk"]
    job_id = await add(admin, "bulk", {"items": 1})
    await finish(admin, "bulk", "failed", "cancelled", fields={"jcstate": "cancelled"})
    await admin.fast.call("SET", names.cancel_key("bulk", job_id), "{}")
    assert (await admin.jobs("bulk", "failed")).jobs[0].state == "cancelled"
    await admin.retry("bulk", job_id)
    assert (await admin.job("bulk", job_id)).row.state == "waiting"  # type: ignore[union-attr]
    assert await admin.fast.call("HGET", keys.job(job_id), "jcstate") is None
    assert await admin.fast.call("EXISTS", names.cancel_key("bulk", job_id)) == 0
    assert {"event": "waiting", "jobId": job_id, "prev": "failed"} in await events(admin, "bulk")
    assert await take(admin, "bulk") == job_id  # a worker takes it again
    with pytest.raises(Refused, match="has not failed"):
        await admin.retry("bulk", job_id)  # it is active now


async def test_promote_remove_and_their_refusals(admin: Admin) -> None:
    delayed = await add(admin, "bulk", {"items": 1}, delay=600_000)
    waiting = await add(admin, "bulk", {"items": 2})
    await admin.promote("bulk", delayed)
    assert [j.id for j in (await admin.jobs("bulk", "waiting")).jobs] == [delayed, waiting]
    with pytest.raises(Refused, match="not delayed"):
        await admin.promote("bulk", waiting)
    active = await take(admin, "bulk")
    with pytest.raises(Refused, match="running: cancel it instead"):
        await admin.remove("bulk", active)
    other = delayed if active == waiting else waiting
    await admin.remove("bulk", other)
    assert await admin.job("bulk", other) is None
    assert {"event": "removed", "jobId": other, "prev": "wait"} in await events(admin, "bulk")
    with pytest.raises(NotFound):
        await admin.remove("bulk", "never-was")


async def test_clean_removes_only_jobs_older_than_the_age_in_batches(admin: Admin) -> None:
    long_ago = now_ms() - 3 * 3600_000
    for _ in range(3):
        await add(admin, "bulk", {"items": 1})
        await finish(admin, "bulk", "completed", at=long_ago)
    await add(admin, "bulk", {"items": 2})
    fresh = await finish(admin, "bulk", "completed")
    assert await admin.clean("bulk", "completed", older_than_ms=3600_000) == 3
    assert [j.id for j in (await admin.jobs("bulk", "completed")).jobs] == [fresh]
    assert {"event": "cleaned", "count": "3"} in await events(admin, "bulk")
    # Many: a batch per call, until none is left (and a limit stops early).
    await seed(admin, admin.keys["bulk"].failed, "zset", 2_500, "bulk", finished=True)
    assert await admin.clean("bulk", "failed", 0, limit=1_200) == 1_200
    assert await admin.clean("bulk", "failed", 0) == 1_300
    assert (await admin.counts(["bulk"]))["bulk"].failed == 0
    with pytest.raises(Refused, match="cancel running jobs"):
        await admin.clean("bulk", "active", 0)


async def test_bulk_retry_and_cancel_act_on_what_the_filter_selects(admin: Admin) -> None:
    for n in range(6):
        await add(admin, "bulk", {"items": n}, name="report" if n % 2 else "bulk")
        await finish(admin, "bulk", "failed", "boom")
    result = await admin.bulk("retry", "bulk", "failed", name="report")
    assert (result.selected, result.done, result.skipped) == (3, 3, 0)
    counts = (await admin.counts(["bulk"]))["bulk"]
    assert (counts.failed, counts.waiting) == (3, 3)
    assert {j.name for j in (await admin.jobs("bulk", "waiting")).jobs} == {"report"}
    everything = await admin.bulk("cancel", "bulk", "waiting", search="items:3")
    assert (everything.selected, everything.done) == (1, 1)
    rest = await admin.bulk("cancel", "bulk", "waiting")
    assert (rest.selected, rest.done) == (2, 2)
    assert (await admin.counts(["bulk"]))["bulk"].waiting == 0
    with pytest.raises(Refused, match="retry applies to failed jobs, not waiting"):
        await admin.bulk("retry", "bulk", "waiting")


async def test_throughput_from_bullmq_metrics_or_from_the_finished_jobs(admin: Admin) -> None:
    two_ago = (now_ms() // MINUTE - 2) * MINUTE + 1_000
    for at in (two_ago, two_ago + 5, now_ms()):
        await add(admin, "bulk", {"items": 1})
        await finish(admin, "bulk", "completed", at=at)
    await add(admin, "bulk", {"items": 1})
    await finish(admin, "bulk", "failed", "boom", at=two_ago)
    counted = (await admin.throughput(minutes=60))["bulk"]
    assert counted.source == "jobs" and len(counted.completed) == 60
    assert counted.completed[-3:] == [2, 0, 1] and counted.failed[-3:] == [1, 0, 0]
    assert sum(counted.completed) == 3
    # With BullMQ's metrics (the worker's JOBCAST_METRICS_DATA_POINTS) they are the source.
    for at in (two_ago, two_ago + 10, now_ms() - 1, now_ms()):
        await add(admin, "steady", {"steps": 1})
        await finish(admin, "steady", "completed", at=at, metrics=100)
    measured = (await admin.throughput(minutes=5, queues=["steady"]))["steady"]
    assert measured.source == "metrics" and measured.completed == [0, 0, 2, 0, 2]
    assert measured.start_ms == (now_ms() // MINUTE - 4) * MINUTE


async def test_node_bullmq_sees_what_the_actions_did(admin: Admin, redis_server: RedisServer
                                                    ) -> None:
    import subprocess

    from support import require_tool
    from support.processes import TESTS

    require_tool("node", "Node BullMQ 6.7.0 is the oracle")
    node = TESTS / "conformance" / "node"
    if not (node / "node_modules" / "bullmq").is_dir():
        pytest.skip("tests/conformance/node has no node_modules (make test installs them)")
    delayed = await add(admin, "bulk", {"items": 1}, delay=600_000)
    await add(admin, "bulk", {"items": 2})
    failed = await finish(admin, "bulk", "failed", "boom")
    await admin.promote("bulk", delayed)
    await admin.retry("bulk", failed)
    await admin.pause("bulk")
    script = """
    const { Queue } = require('bullmq');
    const [url, ids] = [new URL(process.argv[1]), process.argv.slice(2)];
    const q = new Queue('bulk', { connection: { host: url.hostname, port: Number(url.port),
                                                db: Number(url.pathname.slice(1)) } });
    (async () => {
      const states = await Promise.all(ids.map((id) => q.getJobState(id)));
      process.stdout.write(JSON.stringify({ states, paused: await q.isPaused(),
                                            counts: await q.getJobCounts() }));
      await q.close();
    })();
    """
    out = subprocess.run(["node", "-e", script, redis_server.url.replace("/0", f"/{DB}"),
                          delayed, failed], cwd=node, capture_output=True, text=True, timeout=60,
                         check=True).stdout
    seen = orjson.loads(out)
    assert seen["states"] == ["waiting", "waiting"] and seen["paused"] is True
    assert seen["counts"]["failed"] == 0 and seen["counts"]["delayed"] == 0

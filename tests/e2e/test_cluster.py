"""jobcast on a Redis Cluster: 3 masters and 3 replicas on loopback, started here.

The web, the worker and the CLI are real processes given ``redis+cluster://`` seeds; each
queue is a hash tag (``bull:{bulk}:...``), so its keys live on one master, and the sample
jobs' queues spread over all three masters.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis.crc import key_slot

from conformance.harness import Producer, node_modules  # noqa: F401 - a fixture, used by name
from jobcast._bullmq import QueueKeys, calls
from jobcast.redis import FastRedis, parse_redis_url
from support import Stack, Watcher, start_job, until, wait_state
from support.cluster import RedisClusterServers
from support.topology import post_json, run_local

QUEUES = ("bulk", "boom", "steady")
"""Sample queues whose hash tags fall on three different masters (checked below)."""


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterServers]:
    servers = RedisClusterServers().start()
    yield servers
    servers.stop()


@pytest.fixture(scope="module")
def cstack(cluster: RedisClusterServers) -> Iterator[Stack]:
    with Stack(cluster, JOBCAST_CONCURRENCY="100",  # type: ignore[arg-type]
               JOBCAST_ROOMS_PER_SOCKET="1000") as stack:
        stack.start_worker()
        stack.start_web()
        yield stack


@pytest.fixture
async def http(cstack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=cstack.url, timeout=10) as client:
        yield client


async def test_the_fast_client_routes_by_slot_and_splits_what_spans_masters(
        cluster: RedisClusterServers) -> None:
    fast = FastRedis(parse_redis_url(cluster.url))
    try:
        keys = [f"route:{n}" for n in range(30)]
        assert len({cluster.master_of(k) for k in keys}) == 3  # they span every master
        assert await fast.pipeline(*[("SET", k, n) for n, k in enumerate(keys)]) == ["OK"] * 30
        # MGET over several slots is refused by a cluster; the client sends it per key.
        assert await fast.call("MGET", *keys) == [str(n) for n in range(30)]
        assert await fast.call("EXISTS", *keys, "route:none") == 30
        # A transaction (a BullMQ script plus a plain command) runs on its queue's master.
        tagged = QueueKeys("bull", "routed", tagged=True)
        add = calls.add_job(tagged, "j1", "routed", "{}", {"attempts": 1}, 1)
        assert await fast.run_many([add], then=[("HSET", tagged.job("j1"), "jcowner", "o")],
                                   atomic=True) == ["j1", 1]
        assert await fast.call("HGET", tagged.job("j1"), "jcowner") == "o"
        # Every node's connections, not one node's.
        assert (await fast.call("CLIENT", "LIST")).count("\n") >= 3
    finally:
        await fast.aclose()


def test_queues_live_on_different_masters(cluster: RedisClusterServers, cstack: Stack) -> None:
    masters = {cluster.master_of(q) for q in QUEUES}
    assert len(masters) == 3, masters
    # The worker marked each queue's stream cap in the queue's own (tagged) meta hash.
    for queue in QUEUES:
        keys = QueueKeys("bull", queue, tagged=True)
        assert key_slot(keys.meta.encode()) == key_slot(queue.encode())
        with cluster.node(cluster.master_of(queue)) as node:
            assert node.hget(keys.meta, "opts.maxLenEvents") == "10000"


async def test_jobs_on_every_master_stream_progress_and_one_terminal_event(
        cstack: Stack, http: httpx.AsyncClient) -> None:
    watcher = await Watcher(cstack.url).connect()
    try:
        bulk = await start_job(http, "bulk", {"items": 10, "item_ms": 20})
        steady = await start_job(http, "steady", {"steps": 5, "step_ms": 30})
        boom = await start_job(http, "boom", {})
        for job_id in (bulk, steady, boom):
            assert (await watcher.join(job_id))["ok"] is True
        assert await watcher.wait_terminal(bulk) == (
            "bulk:completed", {"jobId": bulk, "result": {"items": 10}, "state": "completed"})
        assert (await watcher.wait_terminal(steady))[1]["result"] == {"steps": 5}
        event, failed = await watcher.wait_terminal(boom)
        assert event == "boom:failed" and failed["state"] == "failed"
        assert watcher.progress(bulk)[-1] == 100 and watcher.progress(steady)[-1] == 100
        status = await wait_state(http, steady, "completed")
        assert status["result"] == {"steps": 5} and status["progress"] == 100
        assert (await wait_state(http, boom, "failed"))["state"] == "failed"
        ready = (await http.get("/readyz")).json()
        # Each queue's worker is counted on the master its queue lives on.
        assert ready["ok"] is True and all(ready["queues"][q]["workers"] == 1 for q in QUEUES), \
            ready
    finally:
        await watcher.close()


async def test_a_running_job_is_cancelled_over_the_cluster(cstack: Stack,
                                                           http: httpx.AsyncClient) -> None:
    watcher = await Watcher(cstack.url).connect()
    try:
        job_id = await start_job(http, "bulk", {"items": 1000, "item_ms": 10})
        await watcher.join(job_id)
        await until(lambda: watcher.progress(job_id) and watcher.progress(job_id)[-1] > 0,
                    what="the job running")
        response = await http.delete(f"/api/jobs/{job_id}")
        assert response.status_code == 200, response.text
        event, data = await watcher.wait_terminal(job_id)
        logged = [line for p in cstack.procs for line in p.output().splitlines() if "cancel" in line]
        assert event == "bulk:failed" and data["state"] == "cancelled", (response.text, logged)
    finally:
        await watcher.close()


@pytest.mark.usefixtures("node_modules")
async def test_node_bullmq_shares_the_queues_by_naming_them_in_braces(
        cstack: Stack, cluster: RedisClusterServers) -> None:
    """The documented convention: a Node BullMQ 6 Queue named ``{bulk}`` (prefix ``bull``) on
    an ioredis Cluster is jobcast's queue ``bulk``."""
    producer = Producer(cluster.url)
    watcher = await Watcher(cstack.url).connect()
    try:
        job_id = await asyncio.to_thread(producer, "add", queue="{bulk}", name="bulk",
                                         data={"items": 3}, opts={"jobId": "from-node-1"})
        assert job_id == "from-node-1"
        await watcher.join(job_id)
        assert await watcher.wait_terminal(job_id) == (
            "bulk:completed", {"jobId": job_id, "result": {"items": 3}, "state": "completed"})
        seen = await asyncio.to_thread(producer.wait, "{bulk}", job_id, "completed")
        assert seen["returnvalue"] == {"items": 3} and seen["processedBy"].startswith("jobcast")
    finally:
        await watcher.close()
        await asyncio.to_thread(producer.close)


def test_the_cli_reads_the_cluster(cstack: Stack) -> None:
    shown = subprocess.run([sys.executable, "-m", "jobcast", "queues", "--json"],
                           env=cstack.env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    queues = {q["queue"]: q for q in json.loads(shown.stdout)}
    assert queues["bulk"]["completed"] >= 1 and queues["boom"]["failed"] >= 1, queues
    # The container health check finds the worker's heartbeat, wherever its slot is.
    check = subprocess.run([sys.executable, "-m", "jobcast", "worker", "--check"],
                           env=cstack.env, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


async def test_a_master_failover_mid_load_loses_no_job_and_no_terminal_event(
        cluster: RedisClusterServers, cstack: Stack, http: httpx.AsyncClient) -> None:
    """Jobs of ~0.5 s on two masters, 100 at once on the worker: the master of one queue
    fails over to its replica while jobs run there, are being fetched and are recorded."""
    watcher = await Watcher(cstack.url).connect()
    try:
        ids: list[str] = []
        for queue, item in (("steady", {"steps": 10, "step_ms": 50}),
                            ("bulk", {"items": 10, "item_ms": 50})):
            response = await http.post(f"/api/{queue}/batch", json=[item] * 150)
            assert response.status_code == 202, response.text
            ids += response.json()["jobIds"]
        joined = await asyncio.gather(*[watcher.join(job_id) for job_id in ids])
        assert all(ack["ok"] for ack in joined)

        def ended() -> int:
            return sum(1 for i in ids if watcher.terminal(i))

        await until(lambda: ended() >= 20, what="some jobs done before the failover")
        old = cluster.master_of("steady")
        new = await asyncio.to_thread(cluster.failover, old)
        assert cluster.master_of("steady") == new != old
        assert ended() < len(ids) - 50, "the failover must happen mid-load"
        try:
            await until(lambda: ended() == len(ids), timeout=60, what="every terminal event")
        except TimeoutError:
            missing = [i for i in ids if not watcher.terminal(i)]
            states = [(await http.get(f"/api/jobs/{i}")).json()["state"] for i in missing[:20]]
            queues = sorted({ids.index(i) < 150 for i in missing})
            pytest.fail(f"{len(missing)} jobs without a terminal event (steady first: {queues});"
                        f" states {states}\n" + "\n".join(
                            line for line in cstack.web.output().splitlines()  # type: ignore[union-attr]
                            if "WARNING" in line or "ERROR" in line or "Error" in line)[-6000:])
        ends = {job_id: watcher.terminal(job_id) for job_id in ids}
        wrong = {i: e for i, e in ends.items() if len(e) != 1 or not e[0][0].endswith(":completed")}
        assert not wrong, wrong
        states = await asyncio.gather(*[wait_state(http, job_id, "completed") for job_id in ids])
        assert {s["state"] for s in states} == {"completed"}
        # The new master takes new jobs, and the old one (a replica now) holds none of them.
        after = await start_job(http, "steady", {"steps": 2, "step_ms": 10})
        await watcher.join(after)
        assert (await watcher.wait_terminal(after))[0] == "steady:completed"
        with cluster.node(old) as replica:
            assert replica.info("replication")["role"] == "slave"
    finally:
        await watcher.close()


async def test_run_local_brings_the_whole_topology_up_on_a_cluster(tmp_path: Path) -> None:
    """``deploy/run-local --cluster``: 6 cluster nodes, 2 webs, a worker and nginx; a job
    through nginx reaches its socket (through nginx too)."""
    with run_local(tmp_path, {}, "--cluster", "--web", "2", "--workers", "1") as topology:
        assert topology.state["redis_url"].startswith("redis+cluster://")
        assert len(topology.state["cluster"]) == 6
        watcher = await Watcher(topology.url).connect()
        try:
            code, body = await asyncio.to_thread(post_json, f"{topology.url}/api/bulk",
                                                 {"items": 3, "item_ms": 20})
            assert code == 202, body
            await watcher.join(body["jobId"])
            event, data = await watcher.wait_terminal(body["jobId"], timeout=30)
            assert (event, data["result"]) == ("bulk:completed", {"items": 3}), \
                topology.diagnostics()
        finally:
            await watcher.close()

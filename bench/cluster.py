#!/usr/bin/env python3
"""What a Redis Cluster master costs per job, and what an event nobody watches costs a web.

    .venv/bin/python bench/cluster.py                       # 3 masters + 3 replicas, 15 s
    .venv/bin/python bench/cluster.py --seconds 30 --users 40 --idle-webs 2

It starts a 3-master, 3-replica Redis Cluster on loopback (tests/support/cluster.py), one
``jobcast worker`` and one ``jobcast web`` on it, and ``--idle-webs`` more web processes that
no client talks to: they only read every queue's events, as every web does. The shared load
generator (bench/loadgen, real socket.io-client) runs W1's tiny job (bulk {items:10}) through
the busy web. Two phases: without the idle webs, then with them, so the bytes Redis sends per
event to one more web are the difference.

Measured, from each master's INFO (commandstats, cpu, stats) and each process's /proc CPU:
commands, CPU and bytes per job on the masters; events per job; the CPU an idle web spends per
event it reads and drops; jobs/s. Printed as one JSON object (docs/scaling.md uses it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests"))

from jobcast.cli.embedded import free_port  # noqa: E402
from support.cluster import RedisClusterServers  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_s(pid: int) -> float:
    """User+system CPU seconds of a process and its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICK


def master_counts(cluster: RedisClusterServers) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    for port in cluster.masters():
        with cluster.node(port) as node:
            stats = node.info("commandstats")
            cpu = node.info("cpu")
            net = node.info("stats")
        out[port] = {
            "commands": sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info"),
            "xadd": stats.get("cmdstat_xadd", {}).get("calls", 0),
            "cpu_s": cpu["used_cpu_user"] + cpu["used_cpu_sys"],
            "out_bytes": net["total_net_output_bytes"],
            "in_bytes": net["total_net_input_bytes"],
        }
    return out


def start(args: list[str], env: dict[str, str], log_dir: Path, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "jobcast", *args], env=env,
                            stdout=(log_dir / f"{name}.log").open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def ready(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"web on {port} never ready")
        time.sleep(0.2)


def loadgen(port: int, users: int, seconds: float) -> dict[str, Any]:
    argv = ["node", str(BENCH / "loadgen" / "loadgen.js"), f"http://127.0.0.1:{port}", "bulk",
            json.dumps({"items": 10}), str(users), str(seconds), "10000"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"loadgen failed: {done.stdout[-1000:]}{done.stderr[-1000:]}")
    return dict(json.loads(lines[-1]))


def phase(cluster: RedisClusterServers, web: int, idle: list[subprocess.Popen[bytes]],
          worker: subprocess.Popen[bytes], busy: subprocess.Popen[bytes], users: int,
          seconds: float) -> dict[str, Any]:
    before, procs = master_counts(cluster), {p.pid: cpu_s(p.pid) for p in [worker, busy, *idle]}
    load = loadgen(web, users, seconds)
    after = master_counts(cluster)
    used = {pid: cpu_s(pid) - was for pid, was in procs.items()}
    jobs = load["done"]
    delta = {k: sum(after[p][k] - before[p][k] for p in after) for k in after[next(iter(after))]}
    per_master = {str(p): round((after[p]["cpu_s"] - before[p]["cpu_s"]) / seconds, 3)
                  for p in after}
    events = delta["xadd"]
    result: dict[str, Any] = {
        "jobs": jobs, "lost": load["lost"], "duplicates": load["duplicates"],
        "jobs_per_s": load["jobs_per_s"], "e2e_ms": load["e2e_ms"],
        "commands_per_job": round(delta["commands"] / jobs, 1),
        "events_per_job": round(events / jobs, 2),
        "master_cpu_us_per_job": round(delta["cpu_s"] / jobs * 1e6, 1),
        "master_cpu_cores_busy": per_master,
        "master_out_bytes_per_job": round(delta["out_bytes"] / jobs),
        "master_in_bytes_per_job": round(delta["in_bytes"] / jobs),
        "worker_cpu_us_per_job": round(used[worker.pid] / jobs * 1e6, 1),
        "busy_web_cpu_us_per_job": round(used[busy.pid] / jobs * 1e6, 1),
        "events": events,
    }
    if idle:
        per_web = [used[p.pid] for p in idle]
        result["idle_web_cpu_us_per_event"] = round(sum(per_web) / len(idle) / events * 1e6, 2)
        result["idle_web_cpu_cores_busy"] = round(sum(per_web) / len(idle) / seconds, 3)
    return result


def quiet_cores(procs: list[subprocess.Popen[bytes]], seconds: float) -> float:
    """CPU cores an idle web uses with no events at all (its baseline), averaged."""
    before = {p.pid: cpu_s(p.pid) for p in procs}
    time.sleep(seconds)
    return sum(cpu_s(p) - c for p, c in before.items()) / len(procs) / seconds


async def _write_events(url: str, rate: int, seconds: float) -> int:
    """XADD BullMQ-shaped progress events for jobs nobody watches at ``rate`` per second,
    spread over three queues (three masters), in 10 ms batches; how many were written."""
    from jobcast._bullmq import QueueKeys
    from jobcast.redis import FastRedis, parse_redis_url

    fast = FastRedis(parse_redis_url(url))
    streams = [QueueKeys("bull", q, tagged=True).events for q in ("bulk", "boom", "steady")]
    written, start = 0, time.monotonic()
    try:
        while (now := time.monotonic() - start) < seconds:
            due = int(rate * now) - written
            if due > 0:
                await fast.pipeline(*[
                    ("XADD", streams[(written + n) % 3], "MAXLEN", "~", 10000, "*", "event",
                     "progress", "jobId", f"nobody-{written + n}", "data", "50")
                    for n in range(due)])
                written += due
            await asyncio.sleep(0.01)
    finally:
        await fast.aclose()
    return written


def fanout(cluster: RedisClusterServers, idle: list[subprocess.Popen[bytes]], rate: int,
           seconds: float, baseline: float) -> dict[str, Any]:
    """What ``rate`` events/s nobody watches cost: the masters' CPU per event, and (with idle
    webs) each web's CPU and the bytes Redis sends it per event."""
    before_cpu = {p.pid: cpu_s(p.pid) for p in idle}
    before = master_counts(cluster)
    events = asyncio.run(_write_events(cluster.url, rate, seconds))
    after = master_counts(cluster)
    master_cpu = sum(after[p]["cpu_s"] - before[p]["cpu_s"] for p in after)
    result: dict[str, Any] = {"events_per_s": round(events / seconds), "webs": len(idle),
                              "master_cpu_us_per_event": round(master_cpu / events * 1e6, 2)}
    if idle:
        cores = sum(cpu_s(p) - c for p, c in before_cpu.items()) / len(idle) / seconds
        out = sum(after[p]["out_bytes"] - before[p]["out_bytes"] for p in after)
        result.update(idle_web_cores=round(cores, 3),
                      idle_web_cpu_us_per_event=round((cores - baseline) * seconds / events * 1e6, 2),
                      redis_out_bytes_per_event_per_web=round(out / events / len(idle), 1))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--idle-webs", type=int, default=2)
    parser.add_argument("--fanout", default="2000,10000,30000",
                        help="event rates (per second) for the idle-web measurement")
    args = parser.parse_args()
    cluster = RedisClusterServers().start()
    logs = Path(tempfile.mkdtemp(prefix="jobcast-bench-cluster-"))
    env = {**os.environ, "REDIS_URL": cluster.url, "JOBCAST_JOBS": "jobcast.demo:jobs",
           "JOBCAST_LOG_LEVEL": "warning", "JOBCAST_RESULTS_DIR": str(logs / "results")}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        worker = start(["worker"], env, logs, "worker")
        procs.append(worker)
        web = free_port()
        busy = start(["web", "--port", str(web)], env, logs, "web")
        procs.append(busy)
        ready(web)
        log(f"cluster {cluster.url}; warming up")
        loadgen(web, args.users, 3)
        log(f"phase 1: {args.users} users, {args.seconds:g} s, no idle web")
        alone = phase(cluster, web, [], worker, busy, args.users, args.seconds)
        rates = [int(r) for r in args.fanout.split(",") if r]
        log(f"fan-out without idle webs: rates {rates}")
        no_webs = [fanout(cluster, [], rate, args.seconds, 0.0) for rate in rates]
        idle = []
        for n in range(args.idle_webs):
            port = free_port()
            idle.append(start(["web", "--port", str(port)], env, logs, f"idle{n}"))
            procs.append(idle[-1])
            ready(port)
        log(f"phase 2: the same with {args.idle_webs} idle web(s) reading every event")
        shared = phase(cluster, web, idle, worker, busy, args.users, args.seconds)
        extra_bytes = (shared["master_out_bytes_per_job"] - alone["master_out_bytes_per_job"])
        baseline = quiet_cores(idle, 5) if idle else 0.0
        log(f"fan-out: idle webs use {baseline:.3f} cores with no events; rates {rates}")
        fanouts = [fanout(cluster, idle, rate, args.seconds, baseline) for rate in rates
                   ] if idle else []
        report = {
            "cluster": {"masters": len(cluster.masters()), "replicas": 3,
                        "redis": subprocess.run(["redis-server", "--version"],
                                                capture_output=True, text=True).stdout.strip()},
            "machine": {"cpus": os.cpu_count()},
            "alone": alone, "with_idle_webs": shared,
            "idle_webs": args.idle_webs,
            "redis_out_bytes_per_event_per_web": round(
                extra_bytes / max(args.idle_webs, 1) / shared["events_per_job"], 1)
            if args.idle_webs else None,
            "idle_web_quiet_cores": round(baseline, 4),
            "fanout_no_web": no_webs,
            "fanout": fanouts,
        }
        print(json.dumps(report, indent=2))
        return 0
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The streaming benchmark: jobs writing output as fast as they can (or paced like a model's
tokens), each watched by K sockets; a matrix of workloads, not one friendly point.

    .venv/bin/python bench/stream.py              # the matrix (docs/performance.md, Streaming)
    .venv/bin/python bench/stream.py --quick      # one small run of each row

One redis-server, one `jobcast web`, one `jobcast worker` (JOBCAST_LOG_LEVEL=warning), and the
watchers in Node (bench/stream/watch.js, the shipped client on the real socket.io-client).
Per row: chunks delivered per second (a chunk is one ctx.write, counted once per watching
socket), latency from the write to the socket (p50/p99), entries (batches) sent, and the CPU the
web, the worker (and its children) and Redis spent, per chunk written. Every watcher must get
every chunk of every job once, in order, or the row fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "src"))

from jobcast.cli.embedded import RedisServer, free_port  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")

# (name, job, jobs, chunks, sockets, every_ms)
MATRIX = [
    ("one job, 100k chunks, 1 socket", "stream", 1, 100_000, 1, 0),
    ("20 jobs × 5k chunks, 1 socket", "stream", 20, 5_000, 1, 0),
    ("20 jobs × 5k chunks, 5 sockets", "stream", 20, 5_000, 5, 0),
    ("100 jobs × 200 tokens, 20 ms apart", "stream", 100, 200, 1, 20),
    ("10 thread jobs × 5k chunks", "stream_thread", 10, 5_000, 1, 0),
    ("2 cpu_bound jobs × 50k chunks", "stream_cpu", 2, 50_000, 1, 0),
]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its reaped children (a cpu_bound job's child)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / TICK


def descendants(pid: int) -> list[int]:
    out = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        out += [int(child), *descendants(int(child))]
    return out


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the web process exited ({proc.returncode})")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                if r.status == 200 and json.loads(r.read())["queues"]:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the web process did not get ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of each row's chunks")
    parser.add_argument("--runs", type=int, default=1, help="runs per row (the median is kept)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jobcast-stream-bench-"))
    redis = RedisServer(tmp / "redis", persist=False)
    redis_url = redis.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "REDIS_URL": redis_url, "JOBCAST_JOBS": "jobs:jobs",
           "PYTHONPATH": str(BENCH / "stream"), "JOBCAST_LOG_LEVEL": "warning",
           "JOBCAST_ENQUEUE_RATE": "0", "JOBCAST_RESULTS_DIR": str(tmp / "results")}
    jobcast = [sys.executable, "-m", "jobcast"]
    logs = open(tmp / "procs.log", "wb")  # noqa: SIM115 - closed at the end
    web = subprocess.Popen([*jobcast, "web", "--port", str(port)], env=env, stdout=logs,
                           stderr=subprocess.STDOUT)
    worker = subprocess.Popen([*jobcast, "worker"], env=env, stdout=logs,
                              stderr=subprocess.STDOUT)
    rows = []
    failed = False
    try:
        wait_ready(url, web)
        time.sleep(1.0)  # the worker's forkserver, started before its first cpu_bound job
        redis_pid = redis.process.pid if redis.process else None
        for name, job, jobs, chunks, sockets, every_ms in MATRIX:
            if args.quick:
                chunks = max(100, chunks // 10)
            results = []
            for _ in range(args.runs):
                pids = {"web": [web.pid], "worker": [worker.pid, *descendants(worker.pid)],
                        "redis": [redis_pid] if redis_pid else []}
                before = {k: sum(cpu_seconds(p) for p in v) for k, v in pids.items()}
                out = subprocess.run(
                    ["node", str(BENCH / "stream" / "watch.js"), "--url", url, "--job", job,
                     "--jobs", str(jobs), "--chunks", str(chunks), "--sockets", str(sockets),
                     "--every-ms", str(every_ms)],
                    capture_output=True, text=True, timeout=900)
                if out.returncode != 0:
                    raise SystemExit(f"watch.js failed: {out.stderr[-2000:]}")
                result = json.loads(out.stdout.strip().splitlines()[-1])
                time.sleep(0.3)  # the worker records the last completions
                pids["worker"] = [worker.pid, *descendants(worker.pid)]
                after = {k: sum(cpu_seconds(p) for p in v) for k, v in pids.items()}
                cpu = {k: round(after[k] - before[k], 2) for k in before}
                written = jobs * chunks
                result["cpu_s"] = cpu
                result["cpu_us_per_chunk"] = round(1e6 * sum(cpu.values()) / written, 1)
                results.append(result)
            results.sort(key=lambda r: r["chunks_per_s"])
            result = {"row": name, **results[len(results) // 2]}
            failed |= result["error_count"] > 0
            rows.append(result)
            print(json.dumps(result), flush=True)
    finally:
        for proc in (web, worker):
            proc.terminate()
        for proc in (web, worker):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        redis.stop()
        logs.close()
    print("\n| workload | chunks/s delivered | latency p50 / p99 (ms) | entries | CPU µs per chunk "
          "(web / worker / redis s) |")
    print("|---|---|---|---|---|")
    for r in rows:
        cpu = r["cpu_s"]
        print(f"| {r['row']} | {r['chunks_per_s']:,} | {r['latency_ms']['p50']} / "
              f"{r['latency_ms']['p99']} | {r['entries']:,} | {r['cpu_us_per_chunk']} "
              f"({cpu['web']} / {cpu['worker']} / {cpu['redis']}) |")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

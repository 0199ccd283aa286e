"""Memory soak: steady load on jobcast for N minutes, RSS of web and worker sampled over time.

Usage (from the repo root, after `make install`):
    .venv/bin/python bench/soak.py --minutes 10 [--users 10] [--redis-url redis://...]

Starts its own redis-server (unless --redis-url), one `jobcast web` and one `jobcast worker`,
drives them with bench/loadgen (the real socket.io-client) in back-to-back 30 s rounds, and
prints one line per sample plus a verdict on the growth after warm-up.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from jobcast.cli.embedded import EmbeddedRedis, free_port  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--payload", default='{"items":10,"item_ms":1}')
    parser.add_argument("--redis-url")
    args = parser.parse_args()

    loadgen = ROOT / "bench" / "loadgen"
    if not (loadgen / "node_modules").exists():
        subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=loadgen, check=True)
    redis = None
    url = args.redis_url
    if not url:
        redis = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="jobcast-soak-")))
        url = redis.start()
    port = free_port()
    env = {**os.environ, "REDIS_URL": url, "JOBCAST_KEEP_COMPLETED": "1000"}
    jobcast = [str(ROOT / ".venv" / "bin" / "jobcast")]
    web = subprocess.Popen([*jobcast, "web", "--port", str(port)], env=env)
    worker = subprocess.Popen([*jobcast, "worker"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        samples = []
        started = time.monotonic()
        total_jobs = 0
        print("t_s  jobs  web_rss_mib  worker_rss_mib  lost  dup", flush=True)
        while time.monotonic() - started < args.minutes * 60:
            out = subprocess.run(
                ["node", "loadgen.js", base, "bulk", args.payload, str(args.users), "30", "5000"],
                cwd=loadgen, capture_output=True, text=True, check=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            total_jobs += result["done"]
            sample = (round(time.monotonic() - started), total_jobs,
                      rss_kib(web.pid) / 1024, rss_kib(worker.pid) / 1024,
                      result["lost"], result["duplicates"])
            samples.append(sample)
            print(f"{sample[0]:4d} {sample[1]:6d} {sample[2]:11.1f} {sample[3]:14.1f} "
                  f"{sample[4]:5d} {sample[5]:4d}", flush=True)
        warm = samples[min(2, len(samples) - 1)]
        last = samples[-1]
        print(f"after warm-up ({warm[0]} s -> {last[0]} s, {last[1] - warm[1]} jobs): "
              f"web {last[2] - warm[2]:+.1f} MiB, worker {last[3] - warm[3]:+.1f} MiB; "
              f"lost {sum(s[4] for s in samples)}, duplicates {sum(s[5] for s in samples)}")
    finally:
        for proc in (web, worker):
            proc.terminate()
            proc.wait(30)
        if redis is not None:
            redis.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

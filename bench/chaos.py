#!/usr/bin/env python3
"""The chaos soak: steady load through deploy/run-local (nginx, 2 webs, 2 workers, Redis with
AOF) while faults hit at random, then the count of what went wrong.

    .venv/bin/python bench/chaos.py --seconds 600            # the soak (docs/reliability.md)
    .venv/bin/python bench/chaos.py --seconds 25 --seed 7    # the short one the tests run

Faults, one every --every seconds (±50 %), chosen at random: a worker SIGKILLed, a web
SIGKILLed (its clients reconnect through nginx to the other web and re-join), a web SIGSTOPped
for 1–10 s, Redis restarted (SIGTERM flushes its AOF; it comes back with its data). run-local
--restart brings killed processes back, as an orchestrator would. The load (bench/chaos/load.js)
is browser-like users on the shipped client, which re-joins its rooms after a reconnect and
retries a failed POST with the same Idempotency-Key.

It prints one JSON line: jobs, faults by kind, lost terminal events, duplicated terminal
events, jobs left non-terminal in Redis after the settle time — the goal is 0, 0, 0 — and
exits 1 if any is not 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
FAULTS = ("kill_worker", "kill_web", "stop_web", "restart_redis")

# Recovery settings of a test rig (a stalled job comes back in seconds, not half a minute).
ENV = {"JOBCAST_LOCK_DURATION_MS": "5000", "JOBCAST_STALLED_INTERVAL_MS": "2000",
       "JOBCAST_SHUTDOWN_GRACE_S": "2", "JOBCAST_ENQUEUE_RATE": "0",
       "JOBCAST_LOG_LEVEL": "warning"}


def log(message: str) -> None:
    print(f"[chaos] {message}", file=sys.stderr, flush=True)


def state_of(path: Path) -> dict[str, Any]:
    for _ in range(50):
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            time.sleep(0.1)
    raise RuntimeError(f"no run-local state in {path}")


def status(url: str, job_id: str) -> str:
    try:
        with urllib.request.urlopen(f"{url}/api/jobs/{job_id}", timeout=10) as r:
            return str(json.load(r)["state"])
    except urllib.error.HTTPError as err:
        return "gone" if err.code == 404 else f"http {err.code}"
    except OSError:
        return "unreachable"


class Faults:
    def __init__(self, state_file: Path, rng: random.Random) -> None:
        self.state_file = state_file
        self.rng = rng
        self.count = {name: 0 for name in FAULTS}

    def pid(self, kind: str) -> int:
        state = state_of(self.state_file)
        return int(state[kind]["pid"] if kind == "redis" else self.rng.choice(state[kind])["pid"])

    def hit(self) -> str:
        fault = self.rng.choice(FAULTS)
        try:
            if fault == "kill_worker":
                os.killpg(self.pid("worker"), signal.SIGKILL)
            elif fault == "kill_web":
                os.killpg(self.pid("web"), signal.SIGKILL)
            elif fault == "stop_web":
                pid, pause = self.pid("web"), self.rng.uniform(1, 10)
                os.kill(pid, signal.SIGSTOP)
                threading.Timer(pause, lambda: _cont(pid)).start()
                fault += f" {pause:.1f}s"
            else:
                os.kill(self.pid("redis"), signal.SIGTERM)
        except ProcessLookupError:  # it was being restarted already
            return f"{fault} (missed)"
        self.count[fault.split()[0]] += 1
        return fault


def _cont(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600, help="how long the load and faults go on")
    ap.add_argument("--vus", type=int, default=20, help="browser-like users")
    ap.add_argument("--every", type=float, default=6, help="seconds between faults (on average)")
    ap.add_argument("--settle", type=float, default=90, help="time for jobs to end afterwards")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--jobcast-bin", default=str(REPO / ".venv" / "bin" / "jobcast"))
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)

    base = Path(tempfile.mkdtemp(prefix="jobcast-chaos-"))
    state_file = base / "state.json"
    env = {**os.environ, **ENV, "JOBCAST_BIN": args.jobcast_bin,
           "JOBCAST_NGINX_PORT": str(_free_port())}
    env.pop("REDIS_URL", None)
    topology = subprocess.Popen(
        [sys.executable, str(REPO / "deploy" / "run-local"), "--restart", "--dir",
         str(base / "topology"), "--state", str(state_file)],
        env=env, stdout=(base / "run-local.log").open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not state_file.exists():
            if topology.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"run-local did not come up; see {base / 'run-local.log'}")
            time.sleep(0.2)
        url = state_of(state_file)["url"].rstrip("/")
        log(f"topology up at {url} (seed {seed}); load for {args.seconds:g} s")
        load = subprocess.Popen(
            ["node", str(BENCH / "chaos" / "load.js"), "--url", url, "--vus", str(args.vus),
             "--seconds", str(args.seconds), "--settle", str(args.settle)],
            cwd=REPO, stdout=subprocess.PIPE, text=True)
        faults = Faults(state_file, rng)
        started = time.monotonic()
        time.sleep(min(3.0, args.seconds / 4))  # steady load first
        while time.monotonic() - started < args.seconds - 2:
            log(f"fault: {faults.hit()}")
            time.sleep(args.every * rng.uniform(0.5, 1.5))
        out, _ = load.communicate(timeout=args.seconds + args.settle + 120)
        summary = json.loads(out.strip().splitlines()[-1])
        states = [status(url, job_id) for job_id in summary["ids"]]
        figures = {
            "seconds": args.seconds, "seed": seed, "vus": args.vus,
            "jobs": summary["jobs"], "faults": faults.count,
            "lost": summary["lost"], "duplicates": summary["duplicates"],
            "non_terminal": sum(s not in ("completed", "failed", "cancelled", "gone")
                                for s in states),
            "failed": states.count("failed"), "gone": states.count("gone"),
            "post_retries": summary["postRetries"], "post_failed": summary["postFailed"],
            "reconnects": summary["reconnects"], "lost_ids": summary["lostIds"][:10],
        }
        print(json.dumps(figures), flush=True)
        bad = figures["lost"] or figures["duplicates"] or figures["non_terminal"]
        if bad:
            log(f"logs kept in {base}")
        return 1 if bad else 0
    finally:
        topology.send_signal(signal.SIGTERM)
        try:
            topology.wait(60)
        except subprocess.TimeoutExpired:
            topology.kill()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())

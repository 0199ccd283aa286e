"""Real processes for the tests: redis-server, `jobcast web`, `jobcast worker`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import socketio

from jobcast.embedded import free_port, redis_server_binary

TESTS = Path(__file__).parent
REPO = TESTS.parent


def wait_for(predicate: Any, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not met within {timeout}s")


class RedisServer:
    """A real redis-server on a free port, AOF on, restartable with the same data."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="jobcast-test-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.dir), "--appendonly", "yes", "--save", "",
             "--appendfsync", "always", "--maxmemory-policy", "noeviction"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(self.pings, what="redis-server up")
        return self

    def pings(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)

    def command(self, *args: str) -> str:
        out = subprocess.run([str(Path(redis_server_binary()).with_name("redis-cli")), "-p",
                              str(self.port), *args], capture_output=True, text=True, timeout=10)
        return out.stdout.strip()


def jobcast_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "REDIS_URL": redis_url,
        "JOBCAST_JOBS": "sample_jobs:jobs",
        "PYTHONPATH": os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]),
        "JOBCAST_LOCK_DURATION_MS": "5000",
        "JOBCAST_STALLED_INTERVAL_MS": "2000",
        "JOBCAST_SHUTDOWN_GRACE_S": "5",
        "JOBCAST_RESULTS_DIR": tempfile.mkdtemp(prefix="jobcast-test-results-"),
    })
    env.update(extra)
    return env


class Proc:
    """A `python -m <module> ...` child (jobcast by default), in its own process group,
    logging to a file."""

    def __init__(self, args: list[str], env: dict[str, str], module: str = "jobcast") -> None:
        self.args = args
        self.env = env
        self.module = module
        self.log = Path(tempfile.mkstemp(prefix="jobcast-test-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args], env=self.env,
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def signal(self, sig: int) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)

    def stop(self, timeout: float = 20) -> int | None:
        if self.process is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(5)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Web(Proc):
    """`jobcast web`, or an application's own ASGI module under uvicorn (``app="mod:app"``)."""

    def __init__(self, env: dict[str, str], app: str | None = None) -> None:
        self.port = free_port()
        if app is None:
            super().__init__(["web", "--port", str(self.port)], env)
        else:
            super().__init__([app, "--host", "127.0.0.1", "--port", str(self.port),
                              "--log-level", "warning"], env, module="uvicorn")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Web:
        super().start()
        wait_for(self.ready, timeout=20, what=f"web on {self.port}")
        return self

    def ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"web exited:\n{self.output()}")
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def rooms(self) -> int:
        """How many job rooms the web holds now (from /readyz)."""
        with urllib.request.urlopen(f"{self.url}/readyz", timeout=10) as r:
            return int(json.load(r)["rooms"])


class Watcher:
    """A real python-socketio client that records every event it gets, per job."""

    def __init__(self, url: str, transports: list[str] | None = None) -> None:
        self.url = url
        self.transports = transports or ["websocket"]
        self.client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.2)
        self.events: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        self._changed = asyncio.Event()

        @self.client.on("*")
        async def any_event(event: str, data: Any = None) -> None:
            if isinstance(data, dict) and "jobId" in data:
                self.events[data["jobId"]].append((event, data))
                self._changed.set()

    async def connect(self) -> Watcher:
        await self.client.connect(self.url, transports=self.transports, wait_timeout=10)
        return self

    async def join(self, job_id: Any) -> Any:
        return await self.client.call("joinRoom", job_id, timeout=10)

    def kinds(self, job_id: str) -> list[str]:
        return [event.split(":", 1)[1] for event, _ in self.events[job_id]]

    def terminal(self, job_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(e, d) for e, d in self.events[job_id]
                if e.endswith((":completed", ":failed"))]

    def progress(self, job_id: str) -> list[float]:
        return [d["progress"] for e, d in self.events[job_id] if e.endswith(":progress")]

    async def wait_terminal(self, job_id: str, timeout: float = 20) -> tuple[str, dict[str, Any]]:
        async def until() -> None:
            while not self.terminal(job_id):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)
        return self.terminal(job_id)[0]

    async def close(self) -> None:
        await self.client.disconnect()

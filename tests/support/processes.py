"""Real processes for the tests: redis-server, `jobcast web`, `jobcast worker`, and stacks of
them. Every process runs in its own process group and logs to a file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import redis as redis_py

from jobcast.cli.embedded import RedisServer as _RedisServer
from jobcast.cli.embedded import free_port

from .waiting import wait_for

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
APPS = TESTS / "apps"


class RedisServer(_RedisServer):
    """jobcast's own private redis-server (the one `jobcast up` runs), in a temp folder,
    with every write fsynced so a restart keeps everything."""

    def __init__(self, *extra: str) -> None:
        super().__init__(Path(tempfile.mkdtemp(prefix="jobcast-test-redis-")),
                         extra=["--appendfsync", "always", *extra])

    def start(self, timeout: float = 10.0) -> RedisServer:  # type: ignore[override]
        super().start(timeout)
        return self

    def client(self, db: int = 0) -> redis_py.Redis:
        return redis_py.Redis(port=self.port, db=db, decode_responses=True)

    def command(self, *args: str) -> Any:
        with self.client() as db:
            return db.execute_command(*args)


def jobcast_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "REDIS_URL": redis_url,
        "JOBCAST_JOBS": "sample_jobs:jobs",
        "PYTHONPATH": os.pathsep.join([str(APPS), env.get("PYTHONPATH", "")]),
        "JOBCAST_LOCK_DURATION_MS": "5000",
        "JOBCAST_STALLED_INTERVAL_MS": "2000",
        "JOBCAST_SHUTDOWN_GRACE_S": "5",
        "JOBCAST_RESULTS_DIR": tempfile.mkdtemp(prefix="jobcast-test-results-"),
    })
    env.update(extra)
    return env


class Proc:
    """A `python -m <module> ...` child (jobcast by default)."""

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

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.process is not None
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


class Worker(Proc):
    def __init__(self, env: dict[str, str], *args: str) -> None:
        super().__init__(["worker", *args], env)

    def start(self) -> Worker:
        super().start()
        wait_for(lambda: "ready" in self.output() or not self.alive(), timeout=20,
                 what="worker ready")
        assert self.alive(), self.output()
        return self


class Web(Proc):
    """`jobcast web`, or an application's own ASGI module under uvicorn (``app="mod:app"``)."""

    def __init__(self, env: dict[str, str], app: str | None = None,
                 port: int | None = None, prefix: str = "") -> None:
        self.port = port or free_port()
        self.prefix = prefix
        """Where jobcast is mounted in the app (its /readyz is under it)."""
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
        if not self.alive():
            raise RuntimeError(f"web exited:\n{self.output()}")
        try:
            with urllib.request.urlopen(f"{self.url}{self.prefix}/readyz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def readyz(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}{self.prefix}/readyz", timeout=10) as r:
            return dict(json.load(r))

    def rooms(self) -> int:
        """How many job rooms the web holds now."""
        return int(self.readyz()["rooms"])


class Stack:
    """A private redis-server plus the web and worker processes a test starts (and breaks).

    Example usage::

        stack = Stack(JOBCAST_JOBS="fault_jobs:jobs")
        stack.start_worker(); stack.start_web()
        ...
        stack.stop()
    """

    def __init__(self, redis: RedisServer | None = None, **env: str) -> None:
        self.owns_redis = redis is None
        self.redis = redis or RedisServer().start()
        self.env = jobcast_env(self.redis.url, **env)
        self.db = self.redis.client()
        self.procs: list[Proc] = []
        self.web: Web | None = None

    def start_web(self, port: int | None = None, app: str | None = None, prefix: str = "",
                  **env: str) -> Web:
        web = Web({**self.env, **env}, app=app, port=port, prefix=prefix)
        self.procs.append(web)
        self.web = web.start()
        return web

    def start_worker(self, *args: str, **env: str) -> Worker:
        worker = Worker({**self.env, **env}, *args)
        self.procs.append(worker)
        return worker.start()

    @property
    def url(self) -> str:
        assert self.web is not None
        return self.web.url

    @property
    def workers(self) -> list[Proc]:
        return [p for p in self.procs if isinstance(p, Worker)]

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.db.close()
        if self.owns_redis:
            self.redis.stop()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()  # also when a process failed to start: nothing is left running

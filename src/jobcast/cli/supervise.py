"""A small process supervisor for ``jobcast up`` and ``jobcast worker --processes N``.

It starts its children, restarts one that dies unexpectedly (with a log line, and at most
RESTARTS_PER_MINUTE times a minute before it gives up), and on SIGINT/SIGTERM stops them all:
SIGTERM, then their grace period; a second Ctrl-C (or the grace running out) kills them.
The exit code says what happened: 0 a requested stop, 1 a child that failed to start or kept
crashing.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .processes import die_with_parent

log = logging.getLogger("jobcast")

RESTARTS_PER_MINUTE = 5


@dataclass
class Child:
    name: str
    argv: list[str]
    ready: Callable[[subprocess.Popen[bytes]], bool] | None = None
    """True once the child serves (checked until it does; a death before that is fatal)."""
    process: subprocess.Popen[bytes] | None = None
    started: bool = False
    restarts: deque[float] = field(default_factory=deque)


class Supervisor:
    def __init__(self, children: list[Child], env: dict[str, str], stop_timeout: float,
                 banner: str | None = None,
                 on_exit: Callable[[int], None] | None = None) -> None:
        self.children = children
        self.env = env
        self.stop_timeout = stop_timeout
        self.banner = banner
        self.on_exit = on_exit
        """Told the pid of each child that exited (the metrics forget its live gauges)."""
        self._signals = 0
        self._restart = threading.Event()

    def restart(self) -> None:
        """Stop every child and start it again (``jobcast dev``, when the code changed); safe
        from any thread. Not counted as a crash."""
        self._restart.set()

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(child.argv, env=self.env, start_new_session=True,
                                         preexec_fn=die_with_parent)
        child.started = child.ready is None

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals += 1
        if self._signals == 1:
            log.info("%s: stopping (Ctrl-C again to force)", signal.Signals(signum).name)
        else:
            log.warning("second %s: killing the processes now", signal.Signals(signum).name)
            self._kill_all()

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        for child in self.children:
            self._spawn(child)
        code = 0
        announced = False
        try:
            while not self._signals:
                if self._restart.is_set():
                    self._restart.clear()
                    log.info("the code changed: restarting %s",
                             " and ".join(c.name for c in self.children))
                    self._stop_all(0, quiet=True)
                    for child in self.children:
                        self._spawn(child)
                for child in self.children:
                    assert child.process is not None
                    exit_code = child.process.poll()
                    if exit_code is None:
                        if not child.started and child.ready is not None \
                                and child.ready(child.process):
                            child.started = True
                        continue
                    if self.on_exit is not None:
                        self.on_exit(child.process.pid)
                    if not child.started:
                        log.error("%s failed to start (exit code %s); stopping", child.name,
                                  exit_code)
                        return self._stop_all(1)
                    if not self._may_restart(child):
                        log.error("%s keeps exiting (%d times within a minute; last exit code "
                                  "%s); giving up", child.name, RESTARTS_PER_MINUTE, exit_code)
                        return self._stop_all(1)
                    log.warning("%s exited unexpectedly (exit code %s); restarting it",
                                child.name, exit_code)
                    self._spawn(child)
                    child.started = True  # it served before; it is not a start-up failure
                if not announced and all(c.started for c in self.children):
                    announced = True
                    if self.banner:
                        print(self.banner, flush=True)
                time.sleep(0.1 if not announced else 0.25)
            return self._stop_all(code)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _may_restart(self, child: Child) -> bool:
        now = time.monotonic()
        while child.restarts and now - child.restarts[0] > 60:
            child.restarts.popleft()
        child.restarts.append(now)
        return len(child.restarts) <= RESTARTS_PER_MINUTE

    def _stop_all(self, code: int, quiet: bool = False) -> int:
        for child in self.children:
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %gs; killing it", child.name,
                            self.stop_timeout)
                self._kill(child)
            if self.on_exit is not None:
                self.on_exit(child.process.pid)
        if not quiet:
            log.info("stopped")
        return code

    def _kill_all(self) -> None:
        for child in self.children:
            self._kill(child)

    @staticmethod
    def _kill(child: Child) -> None:
        if child.process is not None and child.process.poll() is None:
            try:
                os.killpg(child.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

"""deploy/run-local as a test fixture: redis + N webs + N workers + real nginx on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobcast.cli.embedded import free_port

from .processes import REPO

RUN_LOCAL = REPO / "deploy" / "run-local"


def get(url: str, timeout: float = 5.0,
        headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def post_json(url: str, body: dict[str, Any],
              headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


@dataclass
class Topology:
    url: str
    dir: Path
    state: dict[str, Any]
    proc: subprocess.Popen[bytes]
    output: Path

    def web(self, name: str) -> dict[str, Any]:
        return next(w for w in self.state["web"] if w["name"] == name)

    def log(self, name: str) -> str:
        try:
            return (self.dir / "logs" / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""

    def diagnostics(self) -> str:
        parts = [f"--- run-local output\n{self.output.read_text(errors='replace')[-3000:]}"]
        procs = self.state["web"] + self.state["worker"]
        for name in ["nginx", "redis"] + [p["name"] for p in procs]:
            parts.append(f"--- {name}.log (tail)\n{self.log(name)[-2000:]}")
        return "\n".join(parts)


@contextmanager
def run_local(base: Path, env: dict[str, str], *args: str) -> Iterator[Topology]:
    """deploy/run-local in ``base`` with extra ``env`` and arguments, for the ``with``; then
    it is stopped, and nothing of it may be left running."""
    state_file = base / "state.json"
    output = base / "run-local.out"
    env = {**os.environ, **env, "JOBCAST_NGINX_PORT": str(free_port())}
    env.pop("REDIS_URL", None)
    with open(output, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(RUN_LOCAL), "--dir", str(base / "topology"),
             "--state", str(state_file), *args],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    state: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if state_file.exists():
                state = json.loads(state_file.read_text())
                if get(f"{state['url']}readyz", timeout=2)[0] == 200:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError(f"deploy/run-local did not come up (exit code {proc.poll()}):\n"
                                 f"{output.read_text(errors='replace')[-4000:]}")
        yield Topology(url=state["url"].rstrip("/"), dir=base / "topology", state=state,
                       proc=proc, output=output)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        leftovers = []
        for p in [state.get("redis"), state.get("nginx"), *state.get("web", []),
                  *state.get("worker", []), *state.get("cluster", [])]:
            if p and alive(p["pid"]):
                leftovers.append(p["name"])
                try:
                    os.killpg(p["pid"], signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        assert not leftovers, f"run-local left processes running: {leftovers}"

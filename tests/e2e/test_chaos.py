"""The short chaos soak: bench/chaos.py for half a minute, with a fixed seed (every kind of
fault happens): nothing lost, nothing duplicated, nothing left unfinished."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support import REPO, require_tool

pytestmark = pytest.mark.timeout(300)


def test_a_short_chaos_soak_loses_and_duplicates_nothing() -> None:
    require_tool("nginx", "apt-get install nginx-light")
    require_tool("node", "the load is the shipped client on Node's socket.io-client")
    done = subprocess.run([sys.executable, str(REPO / "bench" / "chaos.py"), "--seconds", "30",
                           "--every", "3", "--seed", "7", "--vus", "10", "--settle", "60"],
                          capture_output=True, text=True, timeout=280, cwd=REPO)
    assert done.stdout.strip(), done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["jobs"] > 50, figures
    assert all(figures["faults"][kind] >= 1 for kind in
               ("kill_worker", "kill_web", "stop_web", "restart_redis")), figures
    assert (figures["lost"], figures["duplicates"], figures["non_terminal"]) == (0, 0, 0), figures
    assert done.returncode == 0, done.stderr[-3000:]

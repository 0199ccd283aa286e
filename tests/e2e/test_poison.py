"""A poison job (its worker process dies every time it runs it) under `jobcast up`: the
supervisor restarts the worker, and after JOBCAST_MAX_STALLED_COUNT stalls the job ends as
failed with a reason that says so, instead of killing workers for ever."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from jobcast.cli.embedded import free_port
from support import APPS, REPO, wait_for


def test_a_poison_job_fails_after_max_stalled_count_under_jobcast_up(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "JOBCAST_DATA_DIR": str(tmp_path / "data"), "REDIS_URL": "",
           "JOBCAST_JOBS": "fault_jobs:jobs", "PYTHONPATH": str(APPS),
           "JOBCAST_LOCK_DURATION_MS": "1000", "JOBCAST_STALLED_INTERVAL_MS": "500",
           "JOBCAST_MAX_STALLED_COUNT": "1", "JOBCAST_SHUTDOWN_GRACE_S": "2"}
    log = tmp_path / "up.log"
    up = subprocess.Popen([sys.executable, "-m", "jobcast", "up", "--port", str(port)], env=env,
                          cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "jobcast is up" in log.read_text(), timeout=60, what="jobcast up")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            job_id = http.post("/api/poison", json={"dir": str(tmp_path)}).json()["jobId"]
            wait_for(lambda: http.get(f"/api/jobs/{job_id}").json()["state"] == "failed",
                     timeout=60, what="the poison job failed")
            body = http.get(f"/api/jobs/{job_id}").json()
            assert body["reason"] == "job stalled more than allowable limit"
            # It killed its worker twice (the first run, and once after its first stall);
            # the third worker failed it without running it.
            runs = (tmp_path / "runs").read_text().splitlines()
            assert len(runs) == 2 and len({line.split()[1] for line in runs}) == 2
            assert log.read_text().count("worker exited unexpectedly (exit code -9)") == 2
            # The supervisor's latest worker is alive and serves other jobs.
            other = http.post("/api/bulk", json={"items": 2}).json()["jobId"]
            wait_for(lambda: http.get(f"/api/jobs/{other}").json()["state"] == "completed",
                     timeout=30, what="an ordinary job after the poison one")
    finally:
        up.terminate()
        assert up.wait(30) == 0, log.read_text()[-3000:]

"""The jobcast command as a user meets it: clear one-line errors, no hang on a taken port,
jobs imported from the current directory, warnings where a setup would silently stall, and
a supervisor that restarts what dies."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from jobcast.cli.embedded import free_port
from support import REPO, Stack, Web, jobcast_env, wait_for


def jobcast(*args: str, env: dict[str, str], cwd: Path | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobcast", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(("args", "env", "message"), [
    (["web"], {"JOBCAST_PORT": "80a"}, "jobcast: JOBCAST_PORT='80a': input should be a valid integer"),
    (["web", "--port", "99999"], {}, "jobcast: --port=99999: input should be less than or equal"),
    (["worker"], {"JOBCAST_ENQUEUE_RATE": "30/min"}, "jobcast: JOBCAST_ENQUEUE_RATE='30/min': "
                                                     "expected 0 (no limit) or N/second"),
    (["worker"], {"REDIS_URL": "127.0.0.1:6391"}, "jobcast: REDIS_URL='127.0.0.1:6391': not a "
                                                 "Redis URL; expected redis://"),
    (["web"], {"REDIS_URL": ""}, "jobcast: jobcast web needs REDIS_URL"),
    (["worker", "--jobs", "jobcast.demo:job"], {}, "jobcast: jobs 'jobcast.demo:job': module "
                                                   "'jobcast.demo' has no attribute 'job'"),
])
def test_configuration_mistakes_are_one_clear_line(redis_server: object, args: list[str],
                                                   env: dict[str, str], message: str) -> None:
    base = jobcast_env("redis://127.0.0.1:1/0")
    done = jobcast(*args, env={**base, **env})
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.strip().startswith(message), done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_web_on_a_taken_port_exits_at_once_with_a_reason(redis_server: object) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = jobcast_env(redis_server.url)  # type: ignore[attr-defined]
        done = jobcast("web", "--port", str(port), env=env, timeout=30)
    assert done.returncode != 0
    assert f"could not listen on 127.0.0.1:{port}" in done.stderr, done.stderr


def test_up_does_not_call_another_server_its_own(redis_server: object, tmp_path: Path) -> None:
    other = Web(jobcast_env(redis_server.url)).start()  # type: ignore[attr-defined]
    try:
        env = {**jobcast_env(redis_server.url), "JOBCAST_DATA_DIR": str(tmp_path)}  # type: ignore[attr-defined]
        done = jobcast("up", "--port", str(other.port), env=env, timeout=60)
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert "jobcast is up" not in done.stdout
        assert "web failed to start" in done.stderr
    finally:
        other.stop()


def test_jobs_are_imported_from_the_current_directory(tmp_path: Path) -> None:
    """`jobcast worker --jobs myapp:jobs` run in the app's folder, and `jobcast web
    --app-dir <folder>` run from elsewhere, both find the app's module (as uvicorn does)."""
    (tmp_path / "myapp_jobs.py").write_text(
        "from jobcast import Jobs\njobs = Jobs()\n\n@jobs.job('hello')\n"
        "async def hello(ctx, data):\n    return {'hi': data.get('name')}\n")
    stack = Stack(JOBCAST_JOBS="myapp_jobs:jobs", PYTHONPATH="")
    log = tmp_path / "worker.log"
    worker = subprocess.Popen([sys.executable, "-m", "jobcast", "worker"], env=stack.env,
                              cwd=tmp_path, stdout=log.open("w"), stderr=subprocess.STDOUT)
    web = Web(stack.env)
    web.args += ["--app-dir", str(tmp_path)]
    stack.procs.append(web)
    try:
        web.start()
        with httpx.Client(base_url=web.url, timeout=10) as http:
            job_id = http.post("/api/hello", json={"name": "x"}).json()["jobId"]
            wait_for(lambda: http.get(f"/api/jobs/{job_id}").json()["state"] == "completed",
                     timeout=20, what=f"the app's job done by its worker: {log.read_text()}")
            assert http.get(f"/api/jobs/{job_id}").json()["result"] == {"hi": "x"}
    finally:
        worker.terminate()
        worker.wait(20)
        stack.stop()


def test_a_worker_on_the_demo_jobs_and_a_queue_without_workers_say_so(
        redis_server: object) -> None:
    stack = Stack(JOBCAST_JOBS="jobcast.demo:jobs")
    try:
        worker = stack.start_worker()
        assert "serving the demo jobs (report, bulk)" in worker.output()
        assert "pass --jobs module:attr" in worker.output()
        worker.stop()
        web = stack.start_web()
        with httpx.Client(base_url=web.url, timeout=10) as http:
            http.post("/api/bulk", json={"items": 1})
            ready = http.get("/readyz").json()
        assert ready["queues"]["bulk"] == {"waiting": 1, "active": 0, "workers": 0}
        assert ready["warnings"] == ["queue 'bulk' has 1 waiting job(s) and no worker"]
    finally:
        stack.stop()


def children_of(pid: int) -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found[int(entry.name)] = cmdline
    return found


def test_up_restarts_a_child_that_dies_and_a_second_ctrl_c_forces_the_stop(
        tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "JOBCAST_DATA_DIR": str(tmp_path), "REDIS_URL": "",
           "JOBCAST_SHUTDOWN_GRACE_S": "30"}
    log = tmp_path / "up.log"
    up = subprocess.Popen([sys.executable, "-m", "jobcast", "up", "--port", str(port)], env=env,
                          cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "jobcast is up" in log.read_text(), timeout=60, what="jobcast up")
        workers = [p for p, cmd in children_of(up.pid).items() if " worker" in cmd]
        assert len(workers) == 1
        os.kill(workers[0], signal.SIGKILL)
        wait_for(lambda: "worker exited unexpectedly (exit code -9); restarting it"
                 in log.read_text(), timeout=20, what="the restart")
        wait_for(lambda: [p for p, c in children_of(up.pid).items()
                          if " worker" in c and p != workers[0]], timeout=20, what="a new worker")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            job_id = http.post("/api/bulk", json={"items": 5}).json()["jobId"]
            wait_for(lambda: http.get(f"/api/jobs/{job_id}").json()["state"] == "completed",
                     timeout=30, what="a job done by the restarted worker")
            long_job = http.post("/api/bulk", json={"items": 1000, "item_ms": 100}).json()
            del long_job
            wait_for(lambda: http.get("/readyz").json()["queues"]["bulk"]["active"] == 1,
                     timeout=20, what="a long job running")
        up.send_signal(signal.SIGINT)
        wait_for(lambda: "Ctrl-C again to force" in log.read_text(), timeout=10, what="stopping")
        started = time.monotonic()
        up.send_signal(signal.SIGINT)  # the worker would wait 30 s for its job: force it
        assert up.wait(20) == 0
        assert time.monotonic() - started < 20
        assert "killing the processes now" in log.read_text()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()

"""The operator's CLI as a script uses it: `jobcast enqueue --watch` exits with what became of
the job (0 completed, 1 failed, 2 cancelled, 3 unknown, 4 Redis away, 5 invalid input), `--json`
for machines; jobs, show, retry, cancel, clean, queues, pause and resume on a real stack; the
Redis of a running `jobcast up` found without REDIS_URL; `jobcast dev` restarting on a change."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jobcast.cli.embedded import free_port
from support import Stack, wait_for


def jobcast(*args: str, env: dict[str, str], timeout: float = 60,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobcast", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def lines(done: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def ops() -> Iterator[Stack]:
    with Stack(JOBCAST_JOBS="fault_jobs:jobs") as stack:
        stack.start_worker()
        stack.start_web()
        yield stack


def test_enqueue_and_watch_exit_with_the_jobs_end(ops: Stack, tmp_path: Path) -> None:
    env = ops.env
    done = jobcast("enqueue", "writer", '{"count": 30, "lines": 3}', "--watch", "--json",
                   env=env)
    assert done.returncode == 0, done.stderr
    events = lines(done)
    assert events[0]["event"] == "state" and events[-1]["event"] == "completed"
    assert "".join(e["text"] for e in events if e["event"] == "output") == \
        "".join(f"{i}," for i in range(30))
    assert [e["line"] for e in events if e["event"] == "log"] == ["line 0", "line 10", "line 20"]
    assert events[-1]["result"] == {"count": 30}

    failed = jobcast("enqueue", "boom", '{"message": "no luck"}', "--watch", env=env)
    assert failed.returncode == 1 and "failed: no luck" in failed.stderr

    gate = tmp_path / "gate"
    gate.mkdir()
    watching = subprocess.Popen(
        [sys.executable, "-m", "jobcast", "enqueue", "gate", json.dumps({"dir": str(gate)}),
         "--watch", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    job_id = json.loads(watching.stdout.readline())["jobId"]
    wait_for(lambda: (gate / "runs").exists(), timeout=20, what="the gate job running")
    cancelled = jobcast("cancel", job_id, "--json", env=env)
    assert cancelled.returncode == 0 and lines(cancelled) == [{"jobId": job_id,
                                                               "state": "cancelled"}]
    assert watching.wait(20) == 2  # the watcher saw it cancelled

    assert jobcast("watch", "AAAAAAAAAAAAAAAAAAAAAA", env=env).returncode == 3
    bad = jobcast("enqueue", "bulk", '{"items": "many"}', env=env)
    assert bad.returncode == 5 and "invalid input: items:" in bad.stderr
    unknown = jobcast("enqueue", "nope", "{}", env=env)
    assert unknown.returncode == 3 and "unknown job 'nope'" in unknown.stderr
    away = jobcast("queues", env={**env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert away.returncode == 4 and "Redis is unreachable" in away.stderr


def test_a_batch_from_a_jsonl_file(ops: Stack, tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text('{"items": 1}\n\n{"items": 2}\n{"items": 3}\n')
    done = jobcast("enqueue", "bulk", "--from", str(items), "--watch", env=ops.env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('"items":') == 3  # three results
    refused = jobcast("enqueue", "bulk", "--from", "-", stdin='{"items": 1}\n{"items": 0}\n',
                      env=ops.env)
    assert refused.returncode == 5 and "1.items" in refused.stderr  # item 1 named, none added


def test_list_show_retry_clean_pause_and_resume(ops: Stack) -> None:
    env = ops.env
    # flaky fails its 3 attempts when told to fail 3 times; a retry by hand is its 4th: it passes
    job_id = jobcast("enqueue", "flaky", '{"fail_times": 3}', env=env).stdout.strip()
    with httpx.Client(base_url=ops.url, timeout=10) as http:
        wait_for(lambda: http.get(f"/api/jobs/{job_id}").json()["state"] == "failed",
                 timeout=30, what="flaky failing for good")
        pages = lines(jobcast("jobs", "--state", "failed", "--job", "flaky", "--json", env=env))[0]
        assert job_id in [j["id"] for page in pages for j in page["jobs"]]
        shown = lines(jobcast("show", job_id, "--json", env=env))[0]
        assert shown["state"] == "failed" and shown["attemptsMade"] == 3
        assert "attempt 3 failed" in shown["reason"] and shown["stacktrace"]
        human = jobcast("show", job_id, env=env)
        assert human.returncode == 0 and "attempt 3 failed" in human.stdout
        retried = jobcast("retry", job_id, env=env)
        assert retried.returncode == 0, retried.stderr
        wait_for(lambda: http.get(f"/api/jobs/{job_id}").json()["state"] == "completed",
                 timeout=30, what="the retried job completing")
        assert http.get(f"/api/jobs/{job_id}").json()["result"] == {"attempt": 4}

        paused = lines(jobcast("pause", "bulk", "--json", env=env))[0]
        assert paused["isPaused"] is True
        waiting = http.post("/api/bulk", json={"items": 1}).json()["jobId"]
        table = jobcast("queues", env=env).stdout
        assert "bulk (paused)" in table
        assert http.get(f"/api/jobs/{waiting}").json()["state"] == "waiting"
        assert lines(jobcast("resume", "bulk", "--json", env=env))[0]["isPaused"] is False
        wait_for(lambda: http.get(f"/api/jobs/{waiting}").json()["state"] == "completed",
                 timeout=20, what="the queue resumed")

    before = lines(jobcast("queues", "--json", env=env))[0]
    completed = {q["queue"]: q["completed"] for q in before}["bulk"]
    assert completed > 0
    cleaned = lines(jobcast("clean", "--state", "completed", "--older-than", "0s",
                            "--queue", "bulk", "--json", env=env))[0]
    assert cleaned == {"removed": {"bulk": completed}}
    after = lines(jobcast("queues", "--json", env=env))[0]
    assert {q["queue"]: q["completed"] for q in after}["bulk"] == 0
    assert jobcast("clean", "--state", "completed", "--older-than", "soon", env=env
                   ).returncode == 2  # a usage error


def test_the_commands_find_a_running_up_without_redis_url(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "JOBCAST_DATA_DIR": str(tmp_path), "REDIS_URL": ""}
    up = subprocess.Popen([sys.executable, "-m", "jobcast", "up", "--port", str(port)],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert up.stdout is not None
        for line in up.stdout:
            if "jobcast is up" in line:
                break
        done = jobcast("enqueue", "bulk", '{"items": 2}', "--watch", "--json", env=env)
        assert done.returncode == 0, done.stderr
        assert lines(done)[-1]["result"] == {"items": 2}
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(30)
    assert not (tmp_path / "up.json").exists()  # gone with it
    gone = jobcast("queues", env=env)
    assert gone.returncode == 4 and "no `jobcast up` running" in gone.stderr


def test_dev_restarts_web_and_worker_when_the_jobs_change(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "devjobs.py").write_text(
        "from jobcast import Jobs\njobs = Jobs()\n\n@jobs.job('hello')\n"
        "async def hello(ctx, data):\n    return {'v': 1}\n")
    port = free_port()
    env = {**os.environ, "JOBCAST_DATA_DIR": str(tmp_path / "data"), "REDIS_URL": ""}
    log: list[str] = []
    dev = subprocess.Popen([sys.executable, "-m", "jobcast", "dev", "--jobs", "devjobs:jobs",
                            "--app-dir", str(app), "--port", str(port)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def read() -> None:
        assert dev.stdout is not None
        for line in dev.stdout:
            log.append(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        wait_for(lambda: any("jobcast is up" in line for line in log), timeout=60,
                 what="jobcast dev")
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.post("/api/hello2", json={}).status_code == 404
            (app / "devjobs.py").write_text(
                "from jobcast import Jobs\njobs = Jobs()\n\n@jobs.job('hello2')\n"
                "async def hello2(ctx, data):\n    return {'v': 2}\n")
            wait_for(lambda: any("the code changed" in line for line in log), timeout=20,
                     what="the change noticed")

            def serves_the_new_job() -> bool:
                try:
                    return http.post("/api/hello2", json={}).status_code == 202
                except httpx.HTTPError:
                    return False  # restarting

            wait_for(serves_the_new_job, timeout=40, what="the new job served")
            job_id = http.post("/api/hello2", json={}).json()["jobId"]
            wait_for(lambda: http.get(f"/api/jobs/{job_id}").json()["state"] == "completed",
                     timeout=30, what="the new worker running it")
            assert http.get(f"/api/jobs/{job_id}").json()["result"] == {"v": 2}
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(30)

"""Faults: workers killed or stopped mid-job, the web restarted, jobs that raise, hang or are
cancelled. Nothing is lost, nothing stays active for ever, each client gets one terminal event.

Every test that breaks a process builds its own redis-server, web and worker(s) (the session
stack stays healthy); the tests that only run misbehaving jobs share one module stack. The
jobs come from tests/fault_jobs.py and leave traces in a folder (runs, pid, stopped) that the
tests await instead of sleeping. Redis itself going away is tests/test_recovery.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_py

from support import REPO, TESTS, Stack, Watcher, job_status, start_job, until, wait_for

FAULT_JOBS = "fault_jobs:jobs"


@pytest.fixture
def own() -> Iterator[Callable[..., Stack]]:
    """A private redis-server with the fault jobs, and whatever processes the test starts."""
    stacks: list[Stack] = []

    def make(**env: str) -> Stack:
        stacks.append(Stack(JOBCAST_JOBS=FAULT_JOBS, **env))
        return stacks[-1]

    yield make
    for stack in stacks:
        stack.stop()


@pytest.fixture(scope="module")
def fstack() -> Iterator[Stack]:
    """One healthy stack with the fault jobs, for the tests that break only jobs."""
    with Stack(JOBCAST_JOBS=FAULT_JOBS) as stack:
        stack.start_worker()
        stack.start_web()
        # Warm the worker's forkserver, so a cpu_bound job's 3 s timeout is spent on the job.
        with httpx.Client(base_url=stack.url, timeout=10) as http:
            job_id = http.post("/api/spin", json={"seconds": 0.01}).json()["jobId"]
            wait_for(lambda: http.get(f"/api/jobs/{job_id}").json()["state"] == "completed",
                     timeout=30, what="warm-up cpu job")
        yield stack


@pytest.fixture
async def fhttp(fstack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fstack.url, timeout=10) as client:
        yield client


@pytest.fixture
async def fwatcher(fstack: Stack) -> AsyncIterator[Watcher]:
    w = await Watcher(fstack.url).connect()
    yield w
    await w.close()


# -- small helpers -----------------------------------------------------------------------------

start = start_job
status = job_status


def runs(folder: Path) -> list[str]:
    """The gate job's runs so far: one "<attempt> <worker pid>" line each."""
    path = folder / "runs"
    return path.read_text().splitlines() if path.exists() else []


def pid_of(folder: Path) -> int | None:
    path = folder / "pid"
    text = path.read_text() if path.exists() else ""
    return int(text) if text.strip() else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose: it computes nothing
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


async def barrier(http: httpx.AsyncClient, watcher: Watcher) -> None:
    """Run one more job to its end: the bridge emits stream events in order, so any duplicate
    of an earlier job's terminal event would have reached the watcher before this one's."""
    job_id = await start(http, "bulk", {"items": 1})
    assert (await watcher.join(job_id))["ok"]
    assert (await watcher.wait_terminal(job_id, timeout=30))[0] == "bulk:completed"


def nothing_active(db: redis_py.Redis, *queues: str) -> bool:
    return all(db.llen(f"bull:{q}:active") == 0 for q in queues)


# -- 1. a worker is SIGKILLed mid-job ----------------------------------------------------------

async def test_sigkilled_worker_job_reruns_after_the_stall_and_completes_once(
    own: Callable[..., Stack], tmp_path: Path
) -> None:
    stack = own()
    first = stack.start_worker()
    stack.start_web()
    watcher = await Watcher(stack.url).connect()
    try:
        async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
            job_id = await start(http, "gate", {"dir": str(tmp_path)})
            assert (await watcher.join(job_id))["ok"]
            await until(lambda: runs(tmp_path) and watcher.progress(job_id), what="job running")

            os.killpg(first.pid, signal.SIGKILL)  # the worker and anything it forked
            assert first.process.wait(10) == -signal.SIGKILL
            assert (await status(http, job_id))["state"] == "active"  # its lock still holds

            second = stack.start_worker()
            (tmp_path / "open").touch()  # the re-run may finish
            event, data = await watcher.wait_terminal(job_id, timeout=30)
            assert event == "gate:completed", data
            assert data["result"]["opened"] is True

            assert [line.split()[1] for line in runs(tmp_path)] == [str(first.pid),
                                                                     str(second.pid)]
            stalled = [f for _, f in stack.db.xrange("bull:gate:events")
                       if f.get("event") == "stalled" and f.get("jobId") == job_id]
            assert len(stalled) == 1  # put back by the stall check, not by luck
            body = await status(http, job_id)
            assert body["state"] == "completed" and body["result"]["opened"] is True
            assert nothing_active(stack.db, "gate", "bulk")

            await barrier(http, watcher)
            assert len(watcher.terminal(job_id)) == 1, watcher.events[job_id]
    finally:
        await watcher.close()


async def test_a_worker_killed_alone_takes_its_cpu_child_with_it(
    own: Callable[..., Stack], tmp_path: Path
) -> None:
    """kill -9 of just the worker's pid (as the OOM killer does): the cpu_bound job's child
    must not compute on while the job is re-run elsewhere."""
    stack = own()
    worker = stack.start_worker()
    stack.start_web()
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        await start(http, "cpu_silent", {"dir": str(tmp_path), "seconds": 60})
        await until(lambda: pid_of(tmp_path), what="the job's process started")
        child = pid_of(tmp_path)
        assert child is not None and pid_alive(child)
        os.kill(worker.pid, signal.SIGKILL)  # the worker only, not its process group
        assert worker.process.wait(10) == -signal.SIGKILL
        await until(lambda: not pid_alive(child), timeout=15, what=f"child {child} gone")


# -- 2. a worker gets SIGTERM ------------------------------------------------------------------

async def test_sigterm_with_grace_lets_the_active_job_finish(
    own: Callable[..., Stack], tmp_path: Path
) -> None:
    stack = own(JOBCAST_SHUTDOWN_GRACE_S="30")
    worker = stack.start_worker()
    stack.start_web()
    watcher = await Watcher(stack.url).connect()
    try:
        async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
            job_id = await start(http, "gate", {"dir": str(tmp_path)})
            assert (await watcher.join(job_id))["ok"]
            await until(lambda: runs(tmp_path), what="job running")

            worker.signal(signal.SIGTERM)
            await until(lambda: "stopping: waiting up to 30s for 1 active job" in worker.output(),
                        what="worker draining")
            assert worker.process.poll() is None  # it waits for the job...
            (tmp_path / "open").touch()
            event, data = await watcher.wait_terminal(job_id, timeout=30)
            assert event == "gate:completed", data

            assert await asyncio.to_thread(worker.process.wait, 20) == 0  # ...then exits 0
            assert "handed" not in worker.output()
            assert len(runs(tmp_path)) == 1 and not (tmp_path / "stopped").exists()
            assert (await status(http, job_id))["state"] == "completed"
            assert nothing_active(stack.db, "gate")
    finally:
        await watcher.close()


async def test_sigterm_after_a_short_grace_hands_the_job_back_and_nothing_is_lost(
    own: Callable[..., Stack], tmp_path: Path
) -> None:
    stack = own(JOBCAST_SHUTDOWN_GRACE_S="0.5")
    first = stack.start_worker()
    stack.start_web()
    watcher = await Watcher(stack.url).connect()
    try:
        async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
            job_id = await start(http, "gate", {"dir": str(tmp_path)})
            assert (await watcher.join(job_id))["ok"]
            await until(lambda: runs(tmp_path), what="job running")
            assert (await status(http, job_id))["state"] == "active"

            first.signal(signal.SIGTERM)
            assert await asyncio.to_thread(first.process.wait, 20) == 0
            log = first.output()
            assert f"handed job gate {job_id} back to the queue" in log, log
            assert (tmp_path / "stopped").read_text() == "task cancelled"
            assert (await status(http, job_id))["state"] == "waiting"
            assert stack.db.lrange("bull:gate:wait", 0, -1) == [job_id]
            assert nothing_active(stack.db, "gate")

            # While no worker runs, new jobs wait.
            later = await start(http, "bulk", {"items": 3})
            assert (await watcher.join(later)) == {"ok": True, "state": "waiting", "output": 0, "logs": 0}
            assert (await status(http, later))["state"] == "waiting"

            (tmp_path / "open").touch()
            second = stack.start_worker()
            for jid, job in ((job_id, "gate"), (later, "bulk")):
                event, data = await watcher.wait_terminal(jid, timeout=30)
                assert event == f"{job}:completed", data
            assert [line.split()[1] for line in runs(tmp_path)] == [str(first.pid),
                                                                     str(second.pid)]
            assert watcher.kinds(job_id).count("failed") == 0
            await barrier(http, watcher)
            assert len(watcher.terminal(job_id)) == 1 and len(watcher.terminal(later)) == 1
    finally:
        await watcher.close()


# -- 4. the web process restarts ---------------------------------------------------------------

def test_web_restart_the_browser_client_rejoins_and_gets_state_then_the_end(
    own: Callable[..., Stack], tmp_path: Path
) -> None:
    """The shipped jobcast.js on the real socket.io-client (Node), across a web restart."""
    stack = own()
    stack.start_worker()
    web = stack.start_web()
    job_id = httpx.post(f"{web.url}/api/gate", json={"dir": str(tmp_path), "progress": 42},
                        timeout=10).json()["jobId"]
    out = tmp_path / "client.jsonl"
    client = subprocess.Popen(
        ["node", str(TESTS / "e2e" / "clients" / "rejoin.js"), "--url", web.url, "--job", "gate",
         "--id", job_id, "--timeout", "60000"],
        cwd=REPO, stdout=out.open("w"), stderr=subprocess.STDOUT,
    )
    try:
        def lines() -> list[dict[str, Any]]:
            text = out.read_text()
            return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

        def seen(event: str, n: int) -> list[dict[str, Any]]:
            return [e for e in lines() if e["event"] == event and e.get("n") == n]

        wait_for(lambda: seen("progress", 1), timeout=30, what="progress on the first connection")
        web.stop()
        # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught: -15 is a clean stop.
        assert web.process.returncode in (0, -signal.SIGTERM), web.output()
        assert "Traceback" not in web.output()
        # A new web process on the same port, as a supervisor or an orchestrator would.
        stack.start_web(port=web.port)
        wait_for(lambda: seen("join", 2), timeout=30, what="re-join on the second connection")
        assert seen("join", 2)[0]["ack"] == {"ok": True, "state": "active", "output": 0, "logs": 0}
        # The current state is re-sent to the new connection at once.
        wait_for(lambda: [m for m in seen("message", 2) if m["name"] == "gate:progress"],
                 timeout=10, what="the state after the re-join")
        snapshot = next(m for m in seen("message", 2) if m["name"] == "gate:progress")
        assert snapshot["payload"] == {"jobId": job_id, "progress": 42, "eta": None}

        (tmp_path / "open").touch()
        assert client.wait(30) == 0, out.read_text()
        events = lines()
        terminal = [e for e in events if e["event"] == "message"
                    and e["name"] in ("gate:completed", "gate:failed")]
        assert len(terminal) == 1, events
        assert terminal[0]["n"] == 2 and terminal[0]["name"] == "gate:completed"
        assert [e["value"] for e in events if e["event"] == "completed"] == [
            {"opened": True, "attempt": 1}]
        progress = [e["value"] for e in events if e["event"] == "progress"]
        assert progress == sorted(progress) and progress[-1] == 100
        summary = [e for e in events if e["event"] == "summary"]
        assert len(summary) == 1 and summary[0]["ok"] and summary[0]["connections"] == 2
        assert len(runs(tmp_path)) == 1  # the job never noticed
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()


# -- 5. a job raises; retries ------------------------------------------------------------------

async def test_a_retried_job_reports_retrying_then_completes(
    fhttp: httpx.AsyncClient, fwatcher: Watcher, tmp_path: Path
) -> None:
    job_id = await start(fhttp, "flaky", {"fail_times": 1, "dir": str(tmp_path)})
    assert (await fwatcher.join(job_id))["ok"]
    (tmp_path / "open").touch()
    event, data = await fwatcher.wait_terminal(job_id)
    assert (event, data) == ("flaky:completed", {"jobId": job_id, "result": {"attempt": 2},
                                                 "state": "completed"})
    retrying = [d for e, d in fwatcher.events[job_id] if e == "flaky:retrying"]
    assert retrying == [{"jobId": job_id, "attempt": 2,
                         "reason": "attempt 1 failed second line of the message"}]
    kinds = fwatcher.kinds(job_id)
    assert kinds.index("retrying") < kinds.index("completed")
    body = await status(fhttp, job_id)
    assert body["state"] == "completed" and body["attemptsMade"] == 2


async def test_a_job_failing_every_attempt_fails_with_a_clean_reason(
    fstack: Stack, fhttp: httpx.AsyncClient, fwatcher: Watcher, tmp_path: Path
) -> None:
    job_id = await start(fhttp, "flaky", {"fail_times": 5, "dir": str(tmp_path)})
    assert (await fwatcher.join(job_id))["ok"]
    (tmp_path / "open").touch()
    event, data = await fwatcher.wait_terminal(job_id)
    reason = "attempt 3 failed second line of the message"
    assert (event, data) == ("flaky:failed", {"jobId": job_id, "reason": reason,
                                              "state": "failed"})
    assert [d["attempt"] for e, d in fwatcher.events[job_id] if e == "flaky:retrying"] == [2, 3]
    assert "\n" not in reason and "Traceback" not in reason
    body = await status(fhttp, job_id)
    assert body["state"] == "failed" and body["reason"] == reason and body["attemptsMade"] == 3
    # The traceback went to the worker's log, not to the client.
    log = fstack.workers[0].output()
    assert f"job flaky {job_id} failed:\nValueError: attempt 3 failed" in log
    assert 'fault_jobs.py", line' in log and "in flaky" in log  # the handler's frames


# -- 6. timeout --------------------------------------------------------------------------------

async def test_a_cpu_bound_job_over_its_timeout_fails_and_its_process_is_stopped(
    fhttp: httpx.AsyncClient, fwatcher: Watcher, tmp_path: Path
) -> None:
    job_id = await start(fhttp, "cpu_hang", {"dir": str(tmp_path), "seconds": 60})
    assert (await fwatcher.join(job_id))["ok"]
    await until(lambda: pid_of(tmp_path), what="the job's process started")
    pid = pid_of(tmp_path)
    assert pid is not None and pid_alive(pid)
    event, data = await fwatcher.wait_terminal(job_id, timeout=30)
    assert (event, data) == ("cpu_hang:failed", {"jobId": job_id, "reason": "timed out after 3 s",
                                                 "state": "failed"})
    await until(lambda: not pid_alive(pid), timeout=10, what=f"process {pid} gone")
    body = await status(fhttp, job_id)
    assert body["state"] == "failed" and body["reason"] == "timed out after 3 s"


# -- 7. cancel ---------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["http", "socket"])
@pytest.mark.parametrize("job", ["gate", "cpu_long"])
async def test_cancel_stops_a_running_job(
    fstack: Stack, fhttp: httpx.AsyncClient, fwatcher: Watcher, tmp_path: Path,
    job: str, how: str,
) -> None:
    job_id = await start(fhttp, job, {"dir": str(tmp_path)})
    assert (await fwatcher.join(job_id))["ok"]
    if job == "gate":  # async: stopped cooperatively / by task cancellation
        await until(lambda: runs(tmp_path), what="job running")
    else:  # cpu_bound: its own process, which must really end
        await until(lambda: pid_of(tmp_path), what="the job's process started")
    assert (await status(fhttp, job_id))["state"] == "active"

    if how == "http":
        response = await fhttp.delete(f"/api/jobs/{job_id}")
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "cancelled"
    else:
        ack = await fwatcher.client.call("cancel", job_id, timeout=10)
        assert ack == {"ok": True, "state": "cancelled"}

    event, data = await fwatcher.wait_terminal(job_id)
    assert (event, data) == (f"{job}:failed", {"jobId": job_id, "reason": "cancelled",
                                               "state": "cancelled"})
    if job == "gate":
        await until(lambda: (tmp_path / "stopped").exists(), what="the job saw the cancel")
        assert not (tmp_path / "open").exists()
    else:
        pid = pid_of(tmp_path)
        assert pid is not None
        await until(lambda: not pid_alive(pid), timeout=10, what=f"process {pid} gone")
    await until(lambda: nothing_active(fstack.db, job), what="no job left active")
    body = await status(fhttp, job_id)
    assert body["state"] == "cancelled" and body["reason"] == "cancelled"
    assert body["finishedAt"] is not None


async def test_cancelling_a_waiting_job_removes_it_and_no_worker_runs_it_later(
    own: Callable[..., Stack], tmp_path: Path
) -> None:
    stack = own()
    stack.start_web()  # no worker yet: the job waits
    watcher = await Watcher(stack.url).connect()
    try:
        async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
            job_id = await start(http, "gate", {"dir": str(tmp_path)})
            assert (await watcher.join(job_id)) == {"ok": True, "state": "waiting", "output": 0, "logs": 0}
            response = await http.delete(f"/api/jobs/{job_id}")
            assert response.status_code == 200 and response.json()["state"] == "cancelled"
            event, data = await watcher.wait_terminal(job_id)
            assert (event, data) == ("gate:failed", {"jobId": job_id, "reason": "cancelled",
                                                     "state": "cancelled"})
            removed = [f for _, f in stack.db.xrange("bull:gate:events")
                       if f.get("jobId") == job_id and f["event"] in ("removed", "failed")]
            assert [f["event"] for f in removed] == ["removed"]  # as BullMQ does, nothing made up
            assert (await status(http, job_id))["state"] == "cancelled"
            assert stack.db.llen("bull:gate:wait") == 0

            # A worker starting later runs what is queued after it, never the cancelled job.
            after = await start(http, "gate", {"dir": str(tmp_path / "after")})
            (tmp_path / "after").mkdir()
            (tmp_path / "after" / "open").touch()
            assert (await watcher.join(after))["ok"]
            stack.start_worker()
            assert (await watcher.wait_terminal(after, timeout=30))[0] == "gate:completed"
            assert runs(tmp_path) == [] and len(runs(tmp_path / "after")) == 1
            body = await status(http, job_id)
            assert body["state"] == "cancelled" and body["reason"] == "cancelled"
            # Cancelling it again changes nothing.
            again = await http.delete(f"/api/jobs/{job_id}")
            assert again.status_code == 200 and again.json()["state"] == "cancelled"
            assert len(watcher.terminal(job_id)) == 1
    finally:
        await watcher.close()

"""A web process that falls behind its queues' event streams (here: SIGSTOP while another web
takes the load and the streams are trimmed past what it read) catches up from the jobs' stored
state when it resumes: every watching socket gets its terminal event, exactly once."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sample_jobs import expected_output
from support import Stack, Watcher, start_job, until, wait_for


@pytest.fixture
def stack() -> Iterator[Stack]:
    # The shortest stream jobcast allows: a few seconds of this load trims it many times over.
    with Stack(JOBCAST_JOBS="fault_jobs:jobs", JOBCAST_MAX_EVENTS="100") as stack:
        stack.start_worker()
        yield stack


async def load(url: str, jobs: int, open_gate: Path) -> None:
    """Many quick jobs of the same queue through the other web: hundreds of entries in the
    stream the stopped web reads (gates already open: they complete at once)."""
    open_gate.mkdir(exist_ok=True)
    (open_gate / "open").touch()
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        ids = await asyncio.gather(*(start_job(http, "gate", {"dir": str(open_gate)})
                                     for _ in range(jobs)))
        for job_id in ids:
            while (await http.get(f"/api/jobs/{job_id}")).json()["state"] != "completed":
                await asyncio.sleep(0.05)


async def test_a_stopped_web_catches_its_sockets_up_after_the_stream_was_trimmed(
        stack: Stack, tmp_path: Path) -> None:
    stalled = stack.start_web()
    busy = stack.start_web()
    watchers = [await Watcher(stalled.url).connect() for _ in range(40)]
    try:
        async with httpx.AsyncClient(base_url=busy.url, timeout=10) as http:
            ids = [await start_job(http, "gate", {"dir": str(tmp_path)}) for _ in range(40)]
            for watcher, job_id in zip(watchers, ids, strict=True):
                assert (await watcher.join(job_id))["ok"]
            await until(lambda: all(w.progress(j) for w, j in zip(watchers, ids, strict=True)),
                        what="every job running and watched")
            resyncs = stalled.readyz()["bridge"]["resyncs"]

            stalled.signal(signal.SIGSTOP)
            try:
                await load(busy.url, 150, tmp_path / "load")
                (tmp_path / "open").touch()  # the 40 jobs complete while it is stopped...
                for job_id in ids:
                    while (await http.get(f"/api/jobs/{job_id}")).json()["state"] != "completed":
                        await asyncio.sleep(0.05)
                await load(busy.url, 150, tmp_path / "load")  # ...and their events trimmed
                first = stack.db.xrange("bull:gate:events", count=1)
                ends = {f["jobId"] for _, f in stack.db.xrange("bull:gate:events")
                        if f.get("event") == "completed" and f.get("jobId") in ids}
                assert first and len(ends) < 40, "the stream still holds their ends"
            finally:
                stalled.signal(signal.SIGCONT)

            for watcher, job_id in zip(watchers, ids, strict=True):
                event, data = await watcher.wait_terminal(job_id, timeout=20)
                assert (event, data["state"]) == ("gate:completed", "completed")
            assert stalled.readyz()["bridge"]["resyncs"] > resyncs
            # Exactly once: one more job through the stalled web arrives after any duplicate.
            last = await start_job(http, "bulk", {"items": 1})
            assert (await watchers[0].join(last))["ok"]
            await watchers[0].wait_terminal(last)
            for watcher, job_id in zip(watchers, ids, strict=True):
                assert len(watcher.terminal(job_id)) == 1, watcher.events[job_id]
        assert "fell behind" in stalled.output()
    finally:
        for watcher in watchers:
            await watcher.close()
    wait_for(lambda: stalled.readyz()["sockets"] == 0, timeout=10, what="sockets gone")


async def test_output_trimmed_from_the_stream_is_read_back_for_a_stopped_webs_sockets(
        tmp_path: Path) -> None:
    # Every write its own entry (no batching), and a stream of ~100 entries: a writer of 400
    # entries trims it four times over while the watchers' web is stopped.
    with Stack(JOBCAST_JOBS="fault_jobs:jobs", JOBCAST_MAX_EVENTS="100",
               JOBCAST_OUTPUT_INTERVAL_MS="0") as stack:
        stack.start_worker()
        stalled = stack.start_web()
        busy = stack.start_web()
        watchers = [await Watcher(stalled.url).connect() for _ in range(3)]
        spec = {"count": 400, "pause_every": 1, "pause_ms": 2}
        try:
            async with httpx.AsyncClient(base_url=busy.url, timeout=10) as http:
                job_id = await start_job(http, "writer", spec)
                for watcher in watchers:
                    assert (await watcher.join(job_id))["ok"]
                stalled.signal(signal.SIGSTOP)
                try:
                    while (await http.get(f"/api/jobs/{job_id}")).json()["state"] != "completed":
                        await asyncio.sleep(0.05)
                    kept = [f for _, f in stack.db.xrange("bull:writer:events")
                            if f.get("event") == "output" and f.get("jobId") == job_id]
                    assert len(kept) < 400, "the stream still holds all the output"
                finally:
                    stalled.signal(signal.SIGCONT)
                for watcher in watchers:
                    await watcher.wait_terminal(job_id, timeout=20)
                    chunks = [d for e, d in watcher.events[job_id] if e == "writer:output"]
                    assert [d["seq"] for d in chunks] == list(range(len(chunks)))
                    assert "".join(d["text"] for d in chunks) == expected_output(spec)
                    assert watcher.kinds(job_id)[-1] == "completed"
        finally:
            for watcher in watchers:
                await watcher.close()

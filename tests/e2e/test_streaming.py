"""Streamed output and log lines: every entry reaches every watcher once, in order, however it
joins (early, late, after the end, again after a drop) and whatever it listens with (Socket.IO,
SSE, the Python client); progress messages and the time left; the output bound.

Real processes throughout: `jobcast web` and `jobcast worker` on a real redis-server, the real
python-socketio client, httpx for SSE.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from jobcast import Client, JobError
from sample_jobs import expected_output
from support import Stack, Watcher, job_status, start_job, wait_state


def output_of(watcher: Watcher, job_id: str) -> tuple[str, list[int]]:
    """What a socket got: the text, and the seqs in arrival order."""
    chunks = [d for e, d in watcher.events[job_id] if e.endswith(":output")]
    return "".join(d["text"] for d in chunks), [d["seq"] for d in chunks]


def logs_of(watcher: Watcher, job_id: str) -> list[str]:
    return [d["line"] for e, d in watcher.events[job_id] if e.endswith(":log")]


def assert_exactly_once(seqs: list[int], start: int = 0) -> None:
    assert seqs == list(range(start, start + len(seqs))), seqs[:50]


async def sse_events(http: httpx.AsyncClient, job_id: str,
                     headers: dict[str, str] | None = None,
                     stop_after: int | None = None) -> AsyncIterator[tuple[str, Any, str | None]]:
    """A raw SSE reader (no reconnects): (event, data, id) as they come."""
    import orjson

    async with http.stream("GET", f"/api/jobs/{job_id}/events", headers=headers or {}) as resp:
        assert resp.status_code == 200, await resp.aread()
        assert resp.headers["content-type"].startswith("text/event-stream")
        event, data, event_id, count = "message", "", None, 0
        async for line in resp.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line.startswith("id: "):
                event_id = line[4:]
            elif not line and data:
                yield event, orjson.loads(data), event_id
                count += 1
                event, data = "message", ""
                if stop_after is not None and count >= stop_after:
                    return


@pytest.mark.parametrize("job", ["writer", "thread_writer", "cpu_writer"])
async def test_every_write_arrives_once_in_order_from_each_kind_of_handler(
        http: httpx.AsyncClient, watcher: Watcher, job: str) -> None:
    spec = {"count": 20_000, "lines": 50}
    job_id = await start_job(http, job, spec)
    ack = await watcher.join(job_id)
    assert ack["ok"] is True, ack
    await watcher.wait_terminal(job_id, timeout=120)
    text, seqs = output_of(watcher, job_id)
    assert text == expected_output(spec)
    assert_exactly_once(seqs)
    assert logs_of(watcher, job_id) == [f"line {i}" for i in range(0, 20_000, 400)]
    # Stored the same way: the status counts them, the output route returns them.
    status = await job_status(http, job_id)
    assert status["output"] == len(seqs) and status["logs"] == 50
    stored = await http.get(f"/api/jobs/{job_id}/output", params={"format": "text"})
    assert stored.text == expected_output(spec)
    # The log is BullMQ's own job log: Bull Board shows the same lines.
    lines = (await http.get(f"/api/jobs/{job_id}/logs")).json()
    assert [e["text"] for e in lines["entries"]] == logs_of(watcher, job_id)
    # A batch of writes is one entry: 20 000 writes must not be 20 000 events.
    assert len(seqs) < 2_000, len(seqs)


async def test_a_hundred_thousand_one_letter_writes(http: httpx.AsyncClient,
                                                    watcher: Watcher) -> None:
    spec = {"count": 100_000, "size": 1}
    job_id = await start_job(http, "writer", spec)
    await watcher.join(job_id)
    await watcher.wait_terminal(job_id, timeout=120)
    text, seqs = output_of(watcher, job_id)
    assert len(text) == 100_000 and text == expected_output(spec)
    assert_exactly_once(seqs)


async def test_late_and_after_the_end_joiners_get_everything_once(
        http: httpx.AsyncClient, stack: Stack) -> None:
    spec = {"count": 400, "pause_every": 10, "pause_ms": 20}  # ~0.8 s of writing
    job_id = await start_job(http, "writer", spec)
    early = await Watcher(stack.url).connect()
    late = await Watcher(stack.url).connect()
    after = await Watcher(stack.url).connect()
    try:
        await early.join(job_id)
        while len(output_of(early, job_id)[1]) < 3:  # the job is well under way
            early._changed.clear()
            await asyncio.wait_for(early._changed.wait(), 20)
        ack = await late.join(job_id)
        assert ack["ok"] and ack["state"] == "active" and ack["output"] >= 3, ack
        await early.wait_terminal(job_id)
        await late.wait_terminal(job_id)
        ack = await after.join(job_id)
        assert ack["state"] == "completed", ack
        await after.wait_terminal(job_id)
        for w in (early, late, after):
            text, seqs = output_of(w, job_id)
            assert text == expected_output(spec)
            assert_exactly_once(seqs)
            # entries first, the end last: nothing after the terminal event
            assert w.kinds(job_id)[-1] == "completed"
    finally:
        for w in (early, late, after):
            await w.close()


async def test_a_socket_that_drops_resumes_after_what_it_has(http: httpx.AsyncClient,
                                                             stack: Stack) -> None:
    spec = {"count": 600, "pause_every": 10, "pause_ms": 20}
    job_id = await start_job(http, "writer", spec)
    first = await Watcher(stack.url).connect()
    await first.join(job_id)
    while len(output_of(first, job_id)[1]) < 4:
        first._changed.clear()
        await asyncio.wait_for(first._changed.wait(), 20)
    await first.close()  # the page lost its connection
    had, seqs = output_of(first, job_id)
    again = await Watcher(stack.url).connect()
    try:
        ack = await again.client.call("joinRoom", (job_id, {"after": seqs[-1]}), timeout=10)
        assert ack["ok"], ack
        await again.wait_terminal(job_id)
        rest, rest_seqs = output_of(again, job_id)
        assert rest_seqs[0] == seqs[-1] + 1  # nothing it had came again
        assert_exactly_once(seqs + rest_seqs)
        assert had + rest == expected_output(spec)
    finally:
        await again.close()


async def test_the_same_entries_over_sse_with_ids_to_resume_by(http: httpx.AsyncClient,
                                                               watcher: Watcher) -> None:
    spec = {"count": 300, "lines": 6, "pause_every": 10, "pause_ms": 20}
    job_id = await start_job(http, "writer", spec)
    await watcher.join(job_id)
    got: list[tuple[str, Any, str | None]] = []
    async for item in sse_events(http, job_id, stop_after=5):
        got.append(item)
    assert got[0][0] == "state" and got[0][1]["ok"] is True
    last_id = got[-1][2]
    assert last_id is not None
    # Resume from the last id, as EventSource does after a drop.
    async for item in sse_events(http, job_id, headers={"Last-Event-ID": last_id}):
        got.append(item)
    # event: is the Socket.IO event's name
    assert got[-1][0] == "writer:completed" and got[-1][2] is not None
    assert got[-1][2].endswith(".end")
    outputs = [d for e, d, _ in got if e == "writer:output"]
    assert "".join(d["text"] for d in outputs) == expected_output(spec)
    assert_exactly_once([d["seq"] for d in outputs])
    assert [d["line"] for e, d, _ in got if e == "writer:log"] == \
        [f"line {i}" for i in range(0, 300, 50)]
    await watcher.wait_terminal(job_id)
    assert [d["seq"] for e, d in watcher.events[job_id] if e.endswith(":output")] == \
        [d["seq"] for d in outputs]  # socket and stream saw the same entries
    # After the end, a resume gets 204: EventSource stops reconnecting.
    done = await http.get(f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": got[-1][2]})
    assert done.status_code == 204


async def test_sse_refuses_unknown_and_forged_ids(http: httpx.AsyncClient) -> None:
    for job_id in ("AAAAAAAAAAAAAAAAAAAAAA", "..%2F..%2Fetc", "x" * 300, "a%00b"):
        response = await http.get(f"/api/jobs/{job_id}/events")
        assert response.status_code == 404, (job_id, response.text)
        assert "error" in response.json()
        for route in ("output", "logs"):
            response = await http.get(f"/api/jobs/{job_id}/{route}")
            assert response.status_code == 404
    job_id = await start_job(http, "writer", {"count": 1})
    bad = await http.get(f"/api/jobs/{job_id}/output", params={"after": "soon"})
    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid request" and bad.json()["details"][0]["field"] == "after"
    bad = await http.get(f"/api/jobs/{job_id}/output", params={"format": "xml"})
    assert bad.status_code == 422


async def test_the_python_client_follows_a_job_to_its_result(stack: Stack) -> None:
    async with Client(stack.url) as client:
        spec = {"count": 200, "lines": 4, "pause_every": 20, "pause_ms": 10}
        job_id = await client.start("writer", spec)
        kinds, text = [], []
        async for event in client.watch(job_id):
            kinds.append(event.kind)
            if event.kind == "output":
                text.append(event.data["text"])
        assert kinds[0] == "state" and kinds[-1] == "completed"
        assert "".join(text) == expected_output(spec)
        assert await client.result(job_id) == {"count": 200}
        assert await client.output(job_id) == expected_output(spec)
        failing = await client.start("writer", {"count": 3, "fail": True})
        with pytest.raises(JobError) as err:
            await client.result(failing)
        assert err.value.state == "failed" and "wrote, then failed" in str(err.value)
        with pytest.raises(JobError) as err:
            await client.start("writer", {"count": "many"})
        assert err.value.status == 422
        with pytest.raises(JobError) as err:
            await client.result("AAAAAAAAAAAAAAAAAAAAAA")
        assert err.value.status == 404


async def test_progress_messages_and_the_time_left(http: httpx.AsyncClient,
                                                   watcher: Watcher) -> None:
    steps, step_ms = 20, 100
    job_id = await start_job(http, "steady", {"steps": steps, "step_ms": step_ms})
    await watcher.join(job_id)
    await watcher.wait_terminal(job_id)
    updates = [d for e, d in watcher.events[job_id] if e.endswith(":progress")]
    told = [(d["progress"], d["eta"]) for d in updates if d.get("eta") is not None]
    assert told, updates
    # Steady pace: the time left told at p % is about (100 - p) % of the whole job.
    whole_s = steps * step_ms / 1000
    for percent, eta in told:
        if percent < 100:
            truth = whole_s * (100 - percent) / 100
            assert truth / 2.5 <= eta <= truth * 2.5 + 0.3, (percent, eta, truth)
    assert [eta for _, eta in told][-1] <= told[0][1]  # it shrinks as the job advances
    # Messages travel with the progress (the writer says "write k of n").
    job_id = await start_job(http, "writer", {"count": 50, "pause_every": 5, "pause_ms": 30})
    await watcher.join(job_id)
    await watcher.wait_terminal(job_id)
    messages = [d.get("message") for e, d in watcher.events[job_id] if e.endswith(":progress")]
    assert messages and all(m and m.startswith("write ") for m in messages if m), messages
    status = await job_status(http, job_id)
    assert status["message"] == "write 50 of 50"


@pytest.mark.parametrize("mode", ["truncate", "fail"])
async def test_output_past_its_bound(mode: str) -> None:
    # A private Redis: the session's worker (no bound) must not take these jobs.
    with Stack(JOBCAST_OUTPUT_MAX_BYTES="5000", JOBCAST_OUTPUT_OVERFLOW=mode) as stack:
        stack.start_worker()
        stack.start_web()
        async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
            spec = {"count": 2_000, "size": 10, "pause_every": 100, "pause_ms": 5}
            job_id = await start_job(http, "writer", spec)
            end = await wait_state(http, job_id, "completed", "failed", timeout=60)
            text = (await http.get(f"/api/jobs/{job_id}/output",
                                   params={"format": "text"})).text
            if mode == "truncate":
                assert end["state"] == "completed"
                kept, marker = text.split("\n[output truncated", 1)
                assert len(kept) <= 5000 and expected_output(spec).startswith(kept)
                assert "more than 5000 bytes" in marker
            else:
                assert end["state"] == "failed"
                assert "more than 5000 bytes of output" in end["reason"]
                assert len(text) <= 5000 and expected_output(spec).startswith(text)

"""The join ledger in isolation: what a socket may see while its join is being decided.

The queue here is a stand-in whose status read waits until the test lets it answer, so a
live event can be delivered exactly inside that window (the race the ledger exists for).
"""

from __future__ import annotations

import asyncio
from typing import Any

from jobcast.access import AccessPolicy, Client
from jobcast.events import QueueEvent
from jobcast.realtime import Realtime, _SocketState
from jobcast.settings import Settings
from jobcast.status import JobState, JobStatus

JOB = "A" * 22


class GatedQueue:
    def __init__(self, status: JobStatus | None) -> None:
        self.gate = asyncio.Event()
        self._status = status

    async def status(self, job_id: str) -> JobStatus | None:
        await self.gate.wait()
        return self._status


def realtime(queue: GatedQueue) -> tuple[Realtime, list[tuple[str, str, dict[str, Any]]]]:
    policy = AccessPolicy(owner=lambda client: client.cookies.get("user"))
    rt = Realtime(queue, Settings(redis_url="redis://unused"), policy)  # type: ignore[arg-type]
    sent: list[tuple[str, str, dict[str, Any]]] = []

    async def emit(state: _SocketState, event: str, payload: dict[str, Any]) -> None:
        sent.append((state.eio_sid, event, payload))

    rt._emit = emit  # type: ignore[method-assign]
    return rt, sent


def completed_event() -> QueueEvent:
    return QueueEvent("report", "completed", JOB,
                      {"event": "completed", "jobId": JOB, "returnvalue": '{"url": "secret"}'})


async def join_during_event(rt: Realtime, queue: GatedQueue, user: str) -> dict[str, Any]:
    rt._sockets["s1"] = _SocketState(Client({}, {"user": user}), "e1")
    join = asyncio.ensure_future(rt._on_join("s1", JOB))
    await asyncio.sleep(0)  # the join now waits on the status read
    await rt.on_events([completed_event()])
    queue.gate.set()
    return await join


async def test_a_refused_socket_sees_nothing_even_inside_the_window() -> None:
    status = JobStatus(JOB, "report", JobState.COMPLETED, 100, {"url": "secret"}, owner="alice")
    queue = GatedQueue(status)
    rt, sent = realtime(queue)
    ack = await join_during_event(rt, queue, "mallory")
    assert ack == {"ok": False, "error": "unknown job"}
    assert sent == [] and rt.room_count == 0


async def test_an_allowed_socket_gets_the_end_once_from_snapshot_or_window() -> None:
    status = JobStatus(JOB, "report", JobState.COMPLETED, 100, {"url": "secret"}, owner="alice")
    queue = GatedQueue(status)
    rt, sent = realtime(queue)
    ack = await join_during_event(rt, queue, "alice")
    assert ack == {"ok": True, "state": "completed"}
    assert sent == [("e1", "report:completed", {"jobId": JOB, "result": {"url": "secret"}})]
    assert rt.room_count == 0  # it left the room after the end


async def test_a_held_event_newer_than_the_snapshot_is_delivered_after_it() -> None:
    status = JobStatus(JOB, "report", JobState.ACTIVE, 40, owner="alice")
    queue = GatedQueue(status)
    rt, sent = realtime(queue)
    ack = await join_during_event(rt, queue, "alice")
    assert ack == {"ok": True, "state": "active"}
    assert [event for _, event, _ in sent] == ["report:progress", "report:completed"]


async def test_joining_a_finished_job_again_leaves_no_room_behind() -> None:
    status = JobStatus(JOB, "report", JobState.COMPLETED, 100, {"url": "x"}, owner="alice")
    queue = GatedQueue(status)
    queue.gate.set()
    rt, sent = realtime(queue)
    rt._sockets["s1"] = _SocketState(Client({}, {"user": "alice"}), "e1")
    for _ in range(5):
        assert (await rt._on_join("s1", JOB))["ok"]
    assert len(sent) == 1 and rt.room_count == 0
    assert rt._sockets["s1"].progress == {}

"""The ledger alone (no I/O, no server): what a socket may see, and exactly once per join.

The race it exists for: a live event arriving while a join is being decided (the job's state
is being read, the access hook asked). Here the test decides when the join ends.
"""

from __future__ import annotations

from jobcast._bullmq import QueueEvent
from jobcast.bridge import Delivery, JoinRefused, Ledger
from jobcast.output import Entry
from jobcast.status import JobState, JobStatus

JOB = "A" * 22


def completed_event(result: str = '{"url": "secret"}') -> QueueEvent:
    return QueueEvent("report", "completed", JOB,
                      {"event": "completed", "jobId": JOB, "returnvalue": result})


def progress_event(value: int) -> QueueEvent:
    return QueueEvent("report", "progress", JOB,
                      {"event": "progress", "jobId": JOB, "data": str(value)})


def done() -> JobStatus:
    return JobStatus(JOB, "report", JobState.COMPLETED, 100, {"url": "secret"})


def ledger_with_socket() -> Ledger:
    ledger = Ledger(rooms_per_socket=3)
    ledger.connect("s1", "e1", client=None)
    return ledger


def test_a_refused_socket_sees_nothing_even_inside_the_window() -> None:
    ledger = ledger_with_socket()
    ledger.begin_join("s1", JOB)
    assert ledger.on_event(progress_event(50)) == []
    assert ledger.on_event(completed_event()) == []  # held, not sent
    assert ledger.finish_join("s1", JOB, None) == []  # refused: the held events are dropped
    assert ledger.room_count == 0
    assert ledger.on_event(completed_event()) == []


def test_an_allowed_socket_gets_the_end_once_from_snapshot_or_window() -> None:
    ledger = ledger_with_socket()
    ledger.begin_join("s1", JOB)
    assert ledger.on_event(completed_event()) == []
    out = ledger.finish_join("s1", JOB, done(), queue="report")
    assert out == [Delivery("e1", "report:completed",
                            {"jobId": JOB, "result": {"url": "secret"}, "state": "completed"})]
    assert ledger.room_count == 0  # it left the room after the end
    assert ledger.on_event(completed_event()) == []


def test_every_progress_change_held_during_the_join_goes_out_then_what_the_snapshot_adds(
) -> None:
    ledger = ledger_with_socket()
    ledger.begin_join("s1", JOB)
    ledger.on_event(progress_event(30))  # the socket was in the room: every change counts
    ledger.on_event(progress_event(60))
    ledger.on_event(completed_event())
    out = ledger.finish_join("s1", JOB, JobStatus(JOB, "report", JobState.ACTIVE, 40),
                             queue="report")  # a snapshot older than the last held change
    assert [(d.event, d.payload.get("progress")) for d in out] == [
        ("report:progress", 30), ("report:progress", 60), ("report:completed", None)]
    # A snapshot newer than anything held (the bridge had not read it yet) adds its value.
    ledger.begin_join("s1", JOB)
    ledger.on_event(progress_event(10))
    out = ledger.finish_join("s1", JOB, JobStatus(JOB, "report", JobState.ACTIVE, 45),
                             queue="report")
    assert [d.payload["progress"] for d in out] == [10, 45]


def test_a_first_watcher_gets_the_progress_it_missed_before_joining_in_order() -> None:
    ledger = ledger_with_socket()
    ledger.connect("s2", "e2", client=None)
    for value in (10, 20, 30):  # the job ran its first steps before its socket's join came
        ledger.unwatched(progress_event(value))
    ledger.begin_join("s1", JOB)
    ledger.on_event(progress_event(40))
    out = ledger.finish_join("s1", JOB, JobStatus(JOB, "report", JobState.ACTIVE, 50),
                             queue="report")
    assert [d.payload["progress"] for d in out] == [10, 20, 30, 40, 50]
    # Given to that join only: a second socket gets the snapshot.
    ledger.begin_join("s2", JOB)
    out = ledger.finish_join("s2", JOB, JobStatus(JOB, "report", JobState.ACTIVE, 50),
                             queue="report")
    assert [(d.eio_sid, d.payload["progress"]) for d in out] == [("e2", 50)]
    # A job that finished before its next watcher came: the steps it missed, then the end.
    ledger.leave("s1", JOB)
    ledger.leave("s2", JOB)
    ledger.unwatched(progress_event(100))
    ledger.unwatched(completed_event())
    ledger.begin_join("s1", JOB)
    out = ledger.finish_join("s1", JOB, done(), queue="report")
    assert [(d.event, d.payload.get("progress")) for d in out] == [
        ("report:progress", 100), ("report:completed", None)]


def test_kept_progress_goes_with_a_refusal_a_retry_and_the_bounds() -> None:
    from jobcast.bridge import ledger as module

    ledger = ledger_with_socket()
    ledger.unwatched(progress_event(10))
    ledger.begin_join("s1", JOB)
    assert ledger.finish_join("s1", JOB, None) == []  # refused: it sees none of it
    ledger.begin_join("s1", JOB)
    assert ledger.finish_join("s1", JOB, JobStatus(JOB, "report", JobState.ACTIVE, 10),
                              queue="report")[0].payload["progress"] == 10
    ledger.leave("s1", JOB)
    ledger.unwatched(progress_event(80))  # an attempt that failed...
    ledger.unwatched(QueueEvent("report", "waiting", JOB,
                                {"event": "waiting", "jobId": JOB, "prev": "failed"}))
    ledger.unwatched(progress_event(5))  # ...and the next one, from 0
    ledger.begin_join("s1", JOB)
    out = ledger.finish_join("s1", JOB, JobStatus(JOB, "report", JobState.ACTIVE, 6),
                             queue="report")
    assert [d.payload["progress"] for d in out] == [5, 6]
    for value in range(module.EARLY_PER_JOB + 10):
        ledger.unwatched(QueueEvent("report", "progress", "B" * 22,
                                    {"event": "progress", "jobId": "B" * 22, "data": str(value)}))
    kept = ledger._early["B" * 22]
    assert [e.fields["data"] for e in kept] == [str(v) for v in range(10, module.EARLY_PER_JOB + 10)]
    for n in range(module.EARLY_JOBS + 5):
        ledger.unwatched(QueueEvent("report", "progress", f"{n:022d}",
                                    {"event": "progress", "jobId": f"{n:022d}", "data": "1"}))
    assert len(ledger._early) == module.EARLY_JOBS and "B" * 22 not in ledger._early


def test_each_join_gets_the_terminal_event_once_and_leaves_no_room() -> None:
    ledger = ledger_with_socket()
    for _ in range(3):  # a finished job joined again on the same connection
        ledger.begin_join("s1", JOB)
        out = ledger.finish_join("s1", JOB, done(), queue="report")
        assert [d.event for d in out] == ["report:completed"]
        assert ledger.room_count == 0


def test_progress_never_goes_down_until_a_retry_resets_it() -> None:
    ledger = ledger_with_socket()
    ledger.begin_join("s1", JOB)
    ledger.finish_join("s1", JOB, JobStatus(JOB, "report", JobState.ACTIVE, 10), queue="report")
    sent = [d.payload["progress"] for v in (20, 15, 20, 50) for d in
            ledger.on_event(progress_event(v))]
    assert sent == [20, 50]
    assert [d.event for d in ledger.retrying(JOB, {"jobId": JOB, "attempt": 2})] == [
        "report:retrying"]
    assert [d.payload["progress"] for d in ledger.on_event(progress_event(5))] == [5]


def test_a_cancelled_end_says_so() -> None:
    ledger = ledger_with_socket()
    ledger.begin_join("s1", JOB)
    ledger.finish_join("s1", JOB, JobStatus(JOB, "report", JobState.ACTIVE, 10), queue="report")
    failed = QueueEvent("report", "failed", JOB,
                        {"event": "failed", "jobId": JOB, "failedReason": "cancelled"})
    assert ledger.on_event(failed, state="cancelled") == [Delivery(
        "e1", "report:failed", {"jobId": JOB, "reason": "cancelled", "state": "cancelled"})]


def test_a_socket_may_watch_only_so_many_rooms() -> None:
    ledger = ledger_with_socket()
    for i in range(3):
        ledger.begin_join("s1", f"{i}" * 22)
    try:
        ledger.begin_join("s1", "x" * 22)
    except JoinRefused as err:
        assert "at most 3" in str(err)
    else:
        raise AssertionError("a fourth room was allowed")
    ledger.disconnect("s1")
    assert ledger.room_count == 0 and ledger.socket_count == 0


def output_event(seq: int, text: str) -> QueueEvent:
    return QueueEvent("report", "output", JOB,
                      {"event": "output", "jobId": JOB, "seq": str(seq), "text": text})


def running() -> JobStatus:
    return JobStatus(JOB, "report", JobState.ACTIVE, 10, None)


def texts(out: list[Delivery]) -> list[str]:
    return [d.payload["text"] if d.event.endswith(":output") else d.event for d in out]


def test_stored_entries_then_live_ones_each_once_in_order() -> None:
    ledger = ledger_with_socket()
    ledger.begin_join("s1", JOB, {"output": 0, "log": -1})  # it has entry 0 already
    held = ledger.on_event(output_event(2, "c"))  # written while the join is decided
    assert held == []
    stored = [Entry(0, "a"), Entry(1, "b"), Entry(2, "c")]
    out = ledger.finish_join("s1", JOB, running(), "report", entries={"output": stored})
    assert texts(out) == ["b", "c", "report:progress"]  # 0 it had, 2 once (stored, not held)
    assert texts(ledger.on_event(output_event(3, "d"))) == ["d"]


def test_a_gap_holds_later_events_and_the_end_until_it_is_read_back() -> None:
    ledger = ledger_with_socket()
    ledger.begin_join("s1", JOB)
    ledger.finish_join("s1", JOB, running(), "report")
    assert texts(ledger.on_event(output_event(0, "a"))) == ["a"]
    # Entries 1-3 were trimmed from the stream before this web read them.
    assert ledger.on_event(output_event(4, "e")) == []
    assert ledger.entry_gaps == {(JOB, "output")}
    assert ledger.on_event(output_event(5, "f")) == []  # waits behind the gap
    assert ledger.on_event(completed_event()) == []  # the end must not overtake them
    assert ledger.lowest_seq(JOB, "output") == 0
    stored = [Entry(i, t) for i, t in enumerate("abcdef")]
    out = ledger.entries(JOB, "output", stored[1:])
    assert texts(out) == ["b", "c", "d", "e", "f", "report:completed"]
    assert ledger.room_count == 0


def test_a_job_gone_during_a_gap_releases_what_waited() -> None:
    ledger = ledger_with_socket()
    ledger.begin_join("s1", JOB)
    ledger.finish_join("s1", JOB, running(), "report")
    ledger.on_event(output_event(3, "d"))
    ledger.on_event(completed_event())
    out = ledger.entries(JOB, "output", [])  # nothing to read back: the job was removed
    assert texts(out) == ["d", "report:completed"]  # 0-2 are gone for good; d and the end are not

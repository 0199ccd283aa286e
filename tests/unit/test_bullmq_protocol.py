"""The installed bullmq's scripts are the ones jobcast's argument packing was checked against.

If an upgrade of bullmq changes a script, this fails loudly: re-check the packing in
src/jobcast/_bullmq/calls.py (and run tests/conformance against Node BullMQ), then update
VERIFIED.
"""

from __future__ import annotations

import pytest

from jobcast._bullmq import VERIFIED, QueueKeys, calls, script
from jobcast._bullmq.options import backoff_delay, keep_jobs
from jobcast._bullmq.records import JobRecord
from jobcast._bullmq.schedulers import next_iteration
from jobcast.output.store import append_call


@pytest.mark.parametrize("name", sorted(VERIFIED))
def test_each_script_is_the_verified_one(name: str) -> None:
    found = script(name)
    assert found.sha == VERIFIED[name], (
        f"bullmq's {name} script changed (sha {found.sha}): re-verify its keys and ARGV in "
        "jobcast/_bullmq/calls.py against the script header, then update VERIFIED")


def test_every_call_packs_as_many_keys_as_its_script_takes() -> None:
    keys = QueueKeys("bull", "q")
    built = [
        calls.add_job(keys, "id", "q", "{}", {}, 1),
        calls.add_job(keys, "id", "q", "{}", {"delay": 5}, 1),
        calls.add_job(keys, "id", "q", "{}", {"priority": 2}, 1),
        calls.remove_job(keys, "id"),
        calls.move_to_active(keys, 1, calls.worker_opts("t", 1000)),
        calls.move_to_finished(keys, "id", 1, "completed", "1", calls.worker_opts("t", 1), True,
                               {}),
        calls.retry_job(keys, "id", "t", 1, False, {"failedReason": "x"}),
        calls.move_to_delayed(keys, "id", "t", 1, 10, {"failedReason": "x"}),
        calls.move_active_to_wait(keys, "id", "t"),
        calls.update_progress(keys, "id", "5"),
        calls.extend_locks(keys, ["id"], ["t"], 1000),
        calls.move_stalled_to_wait(keys, 1, 1, 1000),
        append_call(keys, "id", "log", ["line"]),
        append_call(keys, "id", "output", ["text"], max_bytes=10, max_entries=2),
        calls.get_counts(keys, ["wait"]),
        calls.get_state(keys, "id"),
        calls.reprocess_job(keys, "id", "failed", False),
        calls.promote(keys, "id"),
        calls.clean_jobs(keys, "completed", 1, 1000),
        calls.pause(keys, True),
        calls.pause(keys, False),
        calls.get_metrics(keys, "completed", 0, 59),
        next_iteration(keys, record(repeat={"every": 1000, "count": 1}, rjk="s"), 1)
        or next_iteration(keys, scheduled(), 1),
    ]
    for found, packed_keys, _ in built:
        assert found.num_keys == len(packed_keys), found.name
        assert all(k.startswith("bull:q:") for k in packed_keys), found.name


def record(**opts: object) -> JobRecord:
    return JobRecord("id", "q", "{}", dict(opts), 0, 0, 0, 0, 0, None, None, None, {})


def scheduled() -> JobRecord:
    return JobRecord("repeat:s:1", "q", "{}", {"repeat": {"every": 1000, "count": 1}}, 0, 0, 0, 0,
                     0, None, None, "s", {})


async def test_backoff_and_retention_read_job_options_as_bullmq_does() -> None:
    assert await backoff_delay(record(backoff={"type": "fixed", "delay": 300}), 3, "x", {}) == 300
    assert [await backoff_delay(record(backoff={"type": "exponential", "delay": 100}), n, "x", {})
            for n in (1, 2, 3)] == [100, 200, 400]
    assert await backoff_delay(record(backoff=150), 1, "x", {}) == 150  # a number is fixed
    assert await backoff_delay(record(), 1, "x", {}) == 0
    jittered = [await backoff_delay(record(backoff={"type": "exponential", "delay": 100,
                                                    "jitter": 0.5}), 2, "x", {})
                for _ in range(200)]
    assert min(jittered) >= 100 and max(jittered) <= 200 and len(set(jittered)) > 20

    async def slow(made: int, kind: str, reason: str, job: object) -> int:
        return made * 200

    assert await backoff_delay(record(backoff={"type": "mine", "delay": 1}), 2, "x",
                               {"mine": lambda made, kind, reason, job: made * 7}) == 14
    assert await backoff_delay(record(backoff={"type": "mine"}), 2, "x", {"mine": slow}) == 400
    assert await backoff_delay(record(backoff={"type": "mine"}), 2, "x",
                               {"mine": lambda *a: -1}) == -1
    with pytest.raises(LookupError, match="unknown backoff strategy 'other'"):
        await backoff_delay(record(backoff={"type": "other"}), 1, "x", {})
    assert keep_jobs(True) == {"count": 0} and keep_jobs(False) == {"count": -1}
    assert keep_jobs(5) == {"count": 5} and keep_jobs({"count": 2, "age": 9}) == {"count": 2,
                                                                                 "age": 9}

"""Job schedulers (``Queue.upsertJobScheduler``): a worker that fetches a scheduler's iteration
adds the next one before it runs this one, as Node BullMQ 6's worker does; without that a
scheduler would fire once."""

from __future__ import annotations

from typing import Any

from bullmq.job_scheduler import default_repeat_strategy

from .calls import Call, _call, _pack
from .keys import QueueKeys
from .records import JobRecord


def next_iteration(keys: QueueKeys, job: JobRecord, now_ms: int) -> Call | None:
    """updateJobScheduler for the job's scheduler (``rjk``), or None when it has no schedule.

    For ``every`` the script computes the next slot itself (Node sends no time); a cron
    ``pattern``'s next occurrence is computed here, with croniter, as Node does with
    cron-parser.
    """
    scheduler = job.repeat_job_key
    repeat = job.opts.get("repeat")
    if not scheduler or not isinstance(repeat, dict):
        return None
    next_ms: int | str = ""
    opts: dict[str, Any] = {**job.opts, "timestamp": now_ms, "repeatJobKey": scheduler,
                            "repeat": {**repeat, "count": int(repeat.get("count") or 0) + 1}}
    if repeat.get("pattern"):
        found = default_repeat_strategy(now_ms, repeat)
        if found is None:
            return None
        next_ms = max(int(found), now_ms)
        opts.update(jobId=f"repeat:{scheduler}:{next_ms}", delay=next_ms - now_ms,
                    prevMillis=next_ms)
    return _call("updateJobScheduler", [
        keys.repeat, keys.delayed, keys.wait, keys.paused, keys.meta, keys.prioritized,
        keys.marker, keys.id, keys.events, keys.pc, keys.job(job.id), keys.active],
        [next_ms, scheduler, job.data_json, _pack(opts), now_ms, keys.base, job.id])


def is_scheduler(keys: QueueKeys, scheduler: str) -> tuple[str, ...]:
    """The command telling a job scheduler (which counts its iterations) from a legacy repeat."""
    return ("HEXISTS", f"{keys.repeat}:{scheduler}", "ic")

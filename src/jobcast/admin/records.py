"""What the administration reads answer: counts, rows, pages, a job's whole record,
throughput and bulk results, and their decoding from BullMQ's job hash."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .. import names
from .._bullmq import decode_json
from ..status import progress_details, progress_value

PREVIEW = 160
"""Characters of a job's data shown in a row."""
DETAIL_MAX = 256 * 1024
"""A job's data or result bigger than this is cut in its record (the whole is in Redis)."""

# -- what it answers ------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueCounts:
    queue: str
    waiting: int
    active: int
    delayed: int
    completed: int
    failed: int
    paused: int
    prioritized: int
    """Of the waiting (or paused) jobs, those with a priority."""
    is_paused: bool

    def to_json(self) -> dict[str, Any]:
        return {"queue": self.queue, "waiting": self.waiting, "active": self.active,
                "delayed": self.delayed, "completed": self.completed, "failed": self.failed,
                "paused": self.paused, "prioritized": self.prioritized,
                "isPaused": self.is_paused}


@dataclass(frozen=True)
class JobRow:
    """A job as a table row shows it."""

    id: str
    queue: str
    name: str
    state: str
    progress: float = 0
    message: str | None = None
    attempts_made: int = 0
    attempts: int = 1
    created_at: int | None = None
    processed_at: int | None = None
    finished_at: int | None = None
    due_at: int | None = None
    """A delayed job runs then."""
    reason: str | None = None
    """The failure's reason (its first 300 characters)."""
    preview: str = ""
    """The start of the job's data, as JSON."""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "queue": self.queue, "name": self.name, "state": self.state,
                "progress": self.progress, "message": self.message,
                "attemptsMade": self.attempts_made, "attempts": self.attempts,
                "createdAt": self.created_at, "processedAt": self.processed_at,
                "finishedAt": self.finished_at, "dueAt": self.due_at, "reason": self.reason,
                "preview": self.preview}


@dataclass(frozen=True)
class JobPage:
    queue: str
    state: str
    jobs: list[JobRow]
    total: int
    """Jobs in the state (all of them, whatever the filter)."""
    start: int
    next: int | None
    """Where the next page starts (None: this is the last); for a filtered page, the place in
    the state its scan stopped at."""
    scanned: int = 0
    """Jobs a filtered page read to find these."""
    filtered: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"queue": self.queue, "state": self.state, "total": self.total,
                "start": self.start, "next": self.next, "scanned": self.scanned,
                "filtered": self.filtered, "jobs": [j.to_json() for j in self.jobs]}


@dataclass(frozen=True)
class JobDetail:
    """One job's whole record."""

    row: JobRow
    data: Any = None
    data_truncated: bool = False
    opts: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    result_truncated: bool = False
    stacktrace: list[str] = field(default_factory=list)
    attempts_started: int = 0
    stalled: int = 0
    priority: int = 0
    delay: int = 0
    output_count: int = 0
    log_count: int = 0
    output: list[dict[str, Any]] = field(default_factory=list)
    """The newest output entries ({seq, text})."""
    logs: list[dict[str, Any]] = field(default_factory=list)
    """The newest log lines ({seq, text})."""
    worker: str | None = None
    """Who runs it: "jobcast" or "another BullMQ worker" (a lock is held), else None."""
    processed_by: str | None = None
    """BullMQ's ``processedBy``: the name of the worker that took it last."""
    parent: str | None = None
    queue_paused: bool = False

    def to_json(self) -> dict[str, Any]:
        return {**self.row.to_json(), "data": self.data, "dataTruncated": self.data_truncated,
                "opts": self.opts, "result": self.result,
                "resultTruncated": self.result_truncated, "stacktrace": self.stacktrace,
                "attemptsStarted": self.attempts_started, "stalled": self.stalled,
                "priority": self.priority, "delay": self.delay,
                "outputCount": self.output_count, "logCount": self.log_count,
                "output": self.output, "logs": self.logs, "worker": self.worker,
                "processedBy": self.processed_by, "parent": self.parent,
                "queuePaused": self.queue_paused}


@dataclass(frozen=True)
class Throughput:
    """Jobs finished per minute, oldest minute first, over the last ``len(completed)``."""

    queue: str
    start_ms: int
    """When the first minute began."""
    completed: list[int]
    failed: list[int]
    source: Literal["metrics", "jobs"]
    """"metrics": BullMQ's per-minute counters (JOBCAST_METRICS_DATA_POINTS), exact; "jobs":
    counted from the finished jobs still kept (bounded by retention)."""

    def to_json(self) -> dict[str, Any]:
        return {"queue": self.queue, "startMs": self.start_ms, "completed": self.completed,
                "failed": self.failed, "source": self.source}


@dataclass
class BulkResult:
    action: str
    selected: int = 0
    done: int = 0
    skipped: int = 0
    """Selected jobs the action did not apply to any more (they moved on meanwhile)."""
    more: bool = False
    """The selection was cut at BULK_MAX: run it again for the rest."""
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "selected": self.selected, "done": self.done,
                "skipped": self.skipped, "more": self.more, "errors": self.errors[:10]}


def _int(raw: Any) -> int:
    try:
        return int(raw or 0)
    except (TypeError, ValueError):
        return 0


def _opt_int(raw: Any) -> int | None:
    value = _int(raw)
    return value or None


def _lifo(opts_json: Any) -> bool:
    opts = decode_json(opts_json) if isinstance(opts_json, str) else None
    return isinstance(opts, dict) and bool(opts.get("lifo"))


def _attempts(opts: Any) -> int:
    value = opts.get("attempts") if isinstance(opts, dict) else None
    return value if isinstance(value, int) and value > 0 else 1


def _listed_state(where: str, fields: dict[str, str], paused: bool) -> str:
    if where == "failed" and fields.get(names.STATE_FIELD) == names.CANCELLED:
        return "cancelled"
    if where in ("waiting", "prioritized"):
        return "paused" if paused else "waiting"
    return where


def _row(queue: str, job_id: str, state: str, entry: list[Any], preview: str) -> JobRow:
    (_, name, created, processed, finished, made, progress, reason, delay, ended, opts_json,
     _data) = entry
    if state == "failed" and ended == names.CANCELLED:
        state = "cancelled"
    opts = decode_json(opts_json) if opts_json else {}
    created_at = _opt_int(created)
    reported = decode_json(progress)
    message, _ = progress_details(reported)
    return JobRow(
        id=job_id, queue=queue, name=name or "", state=state, progress=progress_value(reported),
        message=message, attempts_made=_int(made), attempts=_attempts(opts),
        created_at=created_at, processed_at=_opt_int(processed), finished_at=_opt_int(finished),
        due_at=(created_at or 0) + _int(delay) if state == "delayed" else None,
        reason=reason if state in ("failed", "cancelled") else None, preview=preview)


def _row_of(queue: str, job_id: str, state: str, fields: dict[str, str]) -> JobRow:
    entry = [0, fields.get("name"), fields.get("timestamp"), fields.get("processedOn"),
             fields.get("finishedOn"), fields.get("atm"), fields.get("progress"),
             (fields.get("failedReason") or "")[:300] or None, fields.get("delay"),
             fields.get(names.STATE_FIELD), fields.get("opts"), ""]
    return _row(queue, job_id, state, entry, fields.get("data", "")[:PREVIEW])


def _bounded(raw: str) -> Any:
    if len(raw) > DETAIL_MAX:
        return raw[:DETAIL_MAX]
    return decode_json(raw)


def _tail(items: Any, total: int) -> list[dict[str, Any]]:
    stored = [str(t) for t in items] if isinstance(items, list) else []
    first = total - len(stored)
    return [{"seq": first + i, "text": text} for i, text in enumerate(stored)]


def _has_metrics(reply: Any) -> bool:
    return isinstance(reply, list) and bool(reply) and isinstance(reply[0], list) \
        and reply[0][1] is not None


def _metric_series(reply: Any, first: int, last: int) -> list[int]:
    """Per-minute counts from BullMQ's metrics (moveToFinished's collectMetrics): the list holds
    one count per minute before the minute of ``prevTS``, newest first; the jobs since then
    (``count - prevCount``) finished in that minute."""
    if not _has_metrics(reply):
        return [0] * (last - first + 1)
    (count, prev_ts, prev_count), data = reply[0], reply[1] or []
    flushed = _int(prev_ts) // 60_000
    series = []
    for minute in range(first, last + 1):
        if minute == flushed:
            series.append(_int(count) - _int(prev_count))
        elif minute < flushed:
            index = flushed - 1 - minute
            series.append(_int(data[index]) if index < len(data) else 0)
        else:
            series.append(0)
    return series

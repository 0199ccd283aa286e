"""A job's state as jobcast reports it, read from BullMQ's job hash (and jobcast's fields in it)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ._bullmq import decode_json
from .names import CANCELLED, OWNER_FIELD, STATE_FIELD


class JobState(StrEnum):
    WAITING = "waiting"
    DELAYED = "delayed"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})

FIELDS = (
    "progress", "returnvalue", "failedReason", "finishedOn", "processedOn", "atm", "timestamp",
    OWNER_FIELD, STATE_FIELD, "jcoutputseq", "jclogseq",
)
"""The job hash fields a status needs, in the order HMGET returns them."""


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    job: str
    state: JobState
    progress: Any = 0
    result: Any = None
    reason: str | None = None
    attempts_made: int = 0
    created_at: int | None = None
    finished_at: int | None = None
    owner: str | None = None
    message: str | None = None
    """The handler's last progress message ("page 3 of 8: charts")."""
    eta: float | None = None
    """Seconds left, estimated by the worker from the job's own pace (None while unknown)."""
    output_count: int = 0
    """Output chunks written so far (the next chunk's seq)."""
    log_count: int = 0
    """Log lines written so far through jobcast."""

    @classmethod
    def from_fields(cls, job_id: str, job: str, values: list[str | None]) -> JobStatus:
        """Build a status from ``HMGET <job hash> *FIELDS``.

        Terminal states come from the hash alone (``finishedOn`` plus ``returnvalue`` or
        ``failedReason``), which is what a late joiner needs; a running job reads as active
        once a worker picked it up, and as waiting before. Cancelled is what the worker
        recorded (``jcstate``), never guessed from the reason's text.
        """
        (progress, returnvalue, reason, finished, processed, attempts, created, owner, ended,
         outputs, logs) = values
        if finished and returnvalue is not None:
            state = JobState.COMPLETED
        elif finished:
            state = JobState.CANCELLED if ended == CANCELLED else JobState.FAILED
        elif processed:
            state = JobState.ACTIVE
        else:
            state = JobState.WAITING
        reported = decode_json(progress)
        message, eta = progress_details(reported)
        return cls(
            job_id=job_id,
            job=job,
            state=state,
            progress=progress_value(reported),
            message=message,
            eta=eta if not state.is_terminal else None,
            output_count=int(outputs or 0),
            log_count=int(logs or 0),
            result=decode_json(returnvalue) if state is JobState.COMPLETED else None,
            reason=reason if state in (JobState.FAILED, JobState.CANCELLED) else None,
            attempts_made=int(attempts or 0),
            created_at=int(created) if created else None,
            finished_at=int(finished) if finished else None,
            owner=owner,
        )

    @classmethod
    def cancelled_record(cls, job_id: str, record: dict[str, Any]) -> JobStatus:
        """The status of a waiting job that was cancelled (removed), from its cancel record."""
        return cls(job_id, str(record.get("job", "")), JobState.CANCELLED, reason=CANCELLED,
                   created_at=record.get("createdAt"), finished_at=record.get("finishedAt"),
                   owner=record.get("owner"))

    def with_state(self, state: JobState) -> JobStatus:
        return dataclasses.replace(self, state=state)

    def to_json(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id,
            "job": self.job,
            "state": self.state.value,
            "progress": self.progress,
            "result": self.result,
            "reason": self.reason,
            "attemptsMade": self.attempts_made,
            "createdAt": self.created_at,
            "finishedAt": self.finished_at,
            "message": self.message,
            "eta": self.eta,
            "output": self.output_count,
            "logs": self.log_count,
        }


def progress_value(value: Any) -> float:
    """A progress as jobcast reports it: the number BullMQ stored (or the ``percent`` of an
    object with a message and time left), 0 for anything else."""
    if isinstance(value, dict):
        value = value.get("percent")
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def progress_details(value: Any) -> tuple[str | None, float | None]:
    """The message and time left stored with a progress, if any."""
    if not isinstance(value, dict):
        return None, None
    message, eta = value.get("message"), value.get("eta")
    return (message if isinstance(message, str) else None,
            eta if isinstance(eta, (int, float)) and not isinstance(eta, bool) else None)

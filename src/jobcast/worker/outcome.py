"""How one run of a job ended, as a small value the consumer records in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Completed:
    result_json: str
    """The handler's return value, already serialised (checked before it is stored)."""
    progress: Any = None
    """The last progress not yet sent (a worker.progress.Progress); it travels with the
    completion."""


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str
    """One line for users (the exception's message), stored as BullMQ's failedReason."""
    retry: bool = True
    """False: fail now, whatever attempts are left (BullMQ's UnrecoverableError)."""
    stack: str = ""
    """The handler's traceback, for the job's stacktrace (the worker's log has it too)."""


@dataclass(frozen=True, slots=True)
class Cancelled:
    """Someone cancelled the job; it ends as cancelled, never retried."""


@dataclass(frozen=True, slots=True)
class HandedBack:
    """The worker is stopping: the job goes back to the head of its queue, unharmed."""


@dataclass(frozen=True, slots=True)
class Limited:
    """The handler said an outside service is rate limiting: the job goes back to the head of
    its queue (no attempt used) and the queue pauses for ``delay_ms``."""

    delay_ms: int


Outcome = Completed | Failed | Cancelled | HandedBack | Limited

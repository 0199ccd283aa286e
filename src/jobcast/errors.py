"""jobcast's exceptions: one base class, each saying what went wrong and what to do."""

from __future__ import annotations

from typing import Any


class JobcastError(Exception):
    """Base class of every error jobcast raises on purpose."""


class ConfigError(JobcastError):
    """The application's jobs or settings are wrong; raised at start-up, never at run time."""


class UnknownJob(JobcastError):
    """A request named a job the registry does not have."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown job {name!r}; known jobs: {', '.join(known) or 'none'}")
        self.name = name


UnknownJobType = UnknownJob
"""Deprecated alias (0.1), kept for one release."""


class InvalidInput(JobcastError):
    """The job's input failed validation; ``details`` lists ``{field, message}``."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__("invalid input")
        self.details = details


class QueueUnavailable(JobcastError):
    """Redis could not be reached or refused the command; nothing was written."""


class JobFailed(JobcastError):
    """Raise it from a handler to fail the job with exactly this message as its reason.

    With ``retry=False`` the job fails at once, whatever attempts are left (BullMQ's
    UnrecoverableError).
    """

    def __init__(self, reason: str, *, retry: bool = True) -> None:
        super().__init__(reason)
        self.retry = retry


class JobCancelled(JobcastError):
    """Raise it from a handler that noticed ``ctx.cancelled``: the job ends as cancelled."""

    def __init__(self) -> None:
        super().__init__("cancelled")


class RateLimited(JobcastError):
    """Raise it from a handler when an outside service says "too many": the job goes back to the
    head of its queue without using an attempt, and the queue takes no job for ``delay_ms``
    (BullMQ's ``worker.rateLimit(ms)`` + ``Worker.RateLimitError()``)."""

    def __init__(self, delay_ms: int) -> None:
        super().__init__(f"rate limited for {delay_ms} ms")
        self.delay_ms = int(delay_ms)

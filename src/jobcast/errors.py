"""jobcast's exceptions: one base class, each saying what went wrong and what to do."""

from __future__ import annotations

from typing import Any


class JobcastError(Exception):
    """Base class of every error jobcast raises on purpose."""


class ConfigError(JobcastError):
    """The application's jobs or settings are wrong; raised at start-up, never at run time."""


class UnknownJobType(JobcastError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown job {name!r}; known jobs: {', '.join(known) or 'none'}")
        self.name = name


class InvalidInput(JobcastError):
    """The job's input failed validation; ``details`` lists ``{field, message}``."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__("invalid input")
        self.details = details


class QueueUnavailable(JobcastError):
    """Redis could not be reached; nothing was enqueued."""


class JobFailed(JobcastError):
    """Raise it from a job handler to fail the job with exactly this message as its reason."""


class JobCancelled(JobcastError):
    """Raised inside a job when it was cancelled; the job fails with reason "cancelled"."""

    def __init__(self) -> None:
        super().__init__("cancelled")

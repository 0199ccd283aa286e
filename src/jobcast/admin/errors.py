"""What an operation that cannot be done raises."""

from __future__ import annotations

from ..errors import JobcastError


class AdminError(JobcastError):
    """An operation that cannot be done; the message says why."""


class NotFound(AdminError):
    """No such queue or job."""


class Refused(AdminError):
    """Not possible in the job's (or queue's) state: retry a job that has not failed, ..."""


class Invalid(Refused):
    """The request itself is wrong (not an id, an unknown state to clean, a malformed body):
    a Refused, so callers that catch Refused still do, that the dashboard answers with 422."""

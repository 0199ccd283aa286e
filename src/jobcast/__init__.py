"""jobcast: heavy work off the request path, with live progress in the browser."""

from ._version import __version__
from .client import Client, Event, JobError
from .context import JobContext
from .errors import ConfigError, InvalidInput, JobCancelled, JobcastError, JobFailed, RateLimited
from .queue import JobQueue
from .registry import Jobs, JobSpec, load_jobs
from .settings import Settings
from .status import JobState, JobStatus
from .web import Access, Caller, JobcastApp, create_app

__all__ = [
    "Access",
    "Caller",
    "Client",
    "ConfigError",
    "Event",
    "InvalidInput",
    "JobCancelled",
    "JobError",
    "JobContext",
    "JobFailed",
    "JobQueue",
    "JobSpec",
    "JobState",
    "JobStatus",
    "JobcastApp",
    "JobcastError",
    "Jobs",
    "RateLimited",
    "Settings",
    "__version__",
    "create_app",
    "load_jobs",
]

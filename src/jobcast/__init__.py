"""jobcast: heavy work off the request path, with live progress in the browser."""

from .access import Access, Client
from .app import JobcastApp, create_app
from .context import JobContext
from .errors import ConfigError, InvalidInput, JobCancelled, JobcastError, JobFailed
from .queue import JobQueue
from .registry import Jobs, JobSpec, load_jobs
from .settings import Settings
from .status import JobState, JobStatus

__all__ = [
    "Access",
    "Client",
    "ConfigError",
    "InvalidInput",
    "JobCancelled",
    "JobContext",
    "JobFailed",
    "JobQueue",
    "JobSpec",
    "JobState",
    "JobStatus",
    "JobcastApp",
    "Jobs",
    "JobcastError",
    "Settings",
    "create_app",
    "load_jobs",
]
__version__ = "0.1.0"

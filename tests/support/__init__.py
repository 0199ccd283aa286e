"""What the tests share: real processes, real clients, one way to wait."""

from .clients import Watcher, job_status, start_job, wait_state
from .processes import APPS, REPO, TESTS, Proc, RedisServer, Stack, Web, Worker, jobcast_env
from .tools import InProcess, require_tool
from .waiting import until, wait_for

__all__ = ["APPS", "REPO", "TESTS", "InProcess", "Proc", "RedisServer", "Stack", "Watcher", "Web",
           "Worker", "job_status", "jobcast_env", "require_tool", "start_job", "until", "wait_for",
           "wait_state"]

"""Every Redis key and Socket.IO name jobcast uses, in one place.

Queues use BullMQ's own layout (``<prefix>:<queue>:<id>``, ``<prefix>:<queue>:events``) so Node
BullMQ tools see the same jobs. jobcast's own few keys live under ``jobcast:``.
"""

from __future__ import annotations


def job_key(prefix: str, queue: str, job_id: str) -> str:
    return f"{prefix}:{queue}:{job_id}"


def events_key(prefix: str, queue: str) -> str:
    return f"{prefix}:{queue}:events"


def cancel_key(job_id: str) -> str:
    """Set while a job is being cancelled, and kept afterwards so its status says so."""
    return f"jobcast:cancel:{job_id}"


CANCEL_CHANNEL = "jobcast:cancel"
"""Workers listen here for the ids of jobs to stop now."""


def heartbeat_key(host: str, pid: int) -> str:
    return f"jobcast:worker:{host}:{pid}"


def heartbeat_pattern(host: str) -> str:
    return f"jobcast:worker:{host}:*"


def rate_key(client: str, window: int) -> str:
    return f"jobcast:rate:{client}:{window}"


def event_name(job: str, kind: str) -> str:
    """Socket.IO event names: ``report:progress``, ``report:completed``, ``report:failed``."""
    return f"{job}:{kind}"

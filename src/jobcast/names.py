"""jobcast's own names: its few Redis keys (under ``jobcast:``) and its Socket.IO events.

BullMQ's keys live in ``_bullmq.keys``; these are the ones BullMQ has no notion of.
"""

from __future__ import annotations

CANCEL_CHANNEL = "jobcast:cancel"
"""Workers listen here for the ids of jobs to stop now."""

CANCELLED = "cancelled"
"""The reason stored with a cancelled job, and the state it reads as."""

STATE_FIELD = "jcstate"
"""jobcast's field in BullMQ's job hash recording how the job ended when the reason alone
cannot say (``cancelled``); a failure text is never read as a cancellation."""

OWNER_FIELD = "jcowner"
"""jobcast's field in the job hash: who started the job, when the app tracks owners."""

TOKEN_PREFIX = "jc-"
"""The start of every lock token a jobcast worker takes, so a cancel can tell whether a
jobcast worker (which can be told to stop) or another BullMQ worker runs the job."""


def cancel_key(queue: str, job_id: str) -> str:
    """The cancel record: set when a job is cancelled; for a waiting job (removed from its
    queue) it is all that remains, so its status can still say so. The queue is a hash tag, so
    on a Redis Cluster the record is in the queue's slot (a retry deletes it in the same
    transaction as it moves the job)."""
    return f"jobcast:cancel:{{{queue}}}:{job_id}"


def cancel_message(queue: str, job_id: str) -> str:
    """What CANCEL_CHANNEL carries (queue names never contain ':')."""
    return f"{queue}:{job_id}"


def heartbeat_key(host: str, pid: int) -> str:
    return f"jobcast:worker:{host}:{pid}"


def heartbeat_pattern(host: str = "*") -> str:
    return f"jobcast:worker:{host}:*"


def rate_key(client: str, window: int) -> str:
    return f"jobcast:rate:{client}:{window}"


def event_name(job: str, kind: str) -> str:
    """Socket.IO event names: ``report:progress``, ``report:completed``, ``report:failed``."""
    return f"{job}:{kind}"

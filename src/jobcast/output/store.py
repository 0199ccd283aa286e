"""Where a job's output and log entries live, and the one script that appends them.

- output: ``<prefix>:<queue>:<id>:output``, a list; entry ``seq`` is its index (from 0).
- log: ``<prefix>:<queue>:<id>:logs``, BullMQ's own job log (Bull Board shows it), trimmed to
  the job's ``keepLogs``; entry ``seq`` counts every line ever written.
The job hash keeps the next seq and the bytes so far (``jcoutputseq``, ``jcoutputbytes``, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from redis.exceptions import RedisError

from .._bullmq import QueueKeys
from .._bullmq.calls import Call
from ..redis.fast import FastRedis, Script

KINDS = ("output", "log")
_APPEND = Script((Path(__file__).parent / "append.lua").read_text(), "jobcast-append", 4)


class Entry(NamedTuple):
    seq: int
    text: str


class OutputOverflow(Exception):
    """A job wrote past its output bound."""


def list_key(keys: QueueKeys, job_id: str, kind: str) -> str:
    return keys.logs(job_id) if kind == "log" else f"{keys.job(job_id)}:output"


def append_call(keys: QueueKeys, job_id: str, kind: str, entries: list[str], *, keep: int = 0,
                ttl_s: int = 0, max_bytes: int = 0, max_entries: int = 0) -> Call:
    """Append ``entries`` (each one entry, in order) and XADD an event for each."""
    return (_APPEND, [keys.job(job_id), list_key(keys, job_id, kind), keys.events, keys.meta],
            [job_id, kind, keep, ttl_s, max_bytes, max_entries, *entries])


async def read_entries(fast: FastRedis, keys: QueueKeys, job_id: str, kind: str,
                       after: int = -1) -> tuple[list[Entry], int]:
    """The stored entries with seq > ``after``, and how many were ever written."""
    total_raw, stored = await fast.pipeline(
        ("HGET", keys.job(job_id), f"jc{kind}seq"),
        ("LRANGE", list_key(keys, job_id, kind), 0, -1))
    for reply in (total_raw, stored):
        if isinstance(reply, (RedisError, OSError)):
            raise reply
    items: list[Any] = stored if isinstance(stored, list) else []
    total = int(total_raw) if total_raw else len(items)  # a log BullMQ's addLog wrote
    first = total - len(items)  # a trimmed log keeps only its newest lines
    return [Entry(first + i, text) for i, text in enumerate(items) if first + i > after], total

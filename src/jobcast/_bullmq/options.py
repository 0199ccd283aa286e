"""How a BullMQ worker reads a job's stored options: retention, retries, backoff, parents.

These mirror Node BullMQ 6.7.0's worker (``job.ts``, ``backoffs.ts``): the same option, stored by
any producer, means the same thing whichever worker runs the job.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .records import JobRecord

BackoffStrategy = Callable[[int, str, str, JobRecord], "int | None | Awaitable[int | None]"]
"""A custom backoff: ``(attempts_made, type, reason, job) -> delay ms``, plain or async
(-1: do not retry; None or 0: retry at once)."""


def keep_jobs(option: Any) -> dict[str, int]:
    """``removeOnComplete`` / ``removeOnFail`` as the ``keepJobs`` map moveToFinished reads."""
    if isinstance(option, bool):
        return {"count": 0} if option else {"count": -1}
    if isinstance(option, int):
        return {"count": option}
    if isinstance(option, Mapping):
        return {k: int(v) for k, v in option.items() if k in ("count", "age", "limit")}
    return {"count": -1}


def finish_opts(job: JobRecord, target: str, metrics_size: int | None = None) -> dict[str, Any]:
    """The part of moveToFinished's options that comes from the job itself."""
    opts = job.opts
    remove = opts.get("removeOnComplete" if target == "completed" else "removeOnFail", False)
    return {
        "keepJobs": keep_jobs(remove),
        "attempts": job.attempts,
        "maxMetricsSize": metrics_size if metrics_size else "",
        "fpof": bool(opts.get("fpof", False)),
        "cpof": bool(opts.get("cpof", False)),
        "idof": bool(opts.get("idof", False)),
        "rdof": bool(opts.get("rdof", False)),
    }


async def backoff_delay(job: JobRecord, attempts_made: int, reason: str,
                        strategies: Mapping[str, BackoffStrategy]) -> int:
    """The delay before the next attempt, in ms (0: at once; -1: do not retry).

    ``attempts_made`` counts the attempt that just failed. ``fixed`` waits ``delay``;
    ``exponential`` waits ``2^(attempts_made-1) * delay``; ``jitter`` (0..1) takes up to that
    part of it off, at random (as Node's ``Math.random()*d*jitter + d*(1-jitter)``); any other
    type is looked up in ``strategies``.
    """
    backoff = job.opts.get("backoff")
    if isinstance(backoff, (int, float)) and not isinstance(backoff, bool):
        backoff = {"type": "fixed", "delay": backoff}
    if not isinstance(backoff, Mapping):
        return 0
    kind = str(backoff.get("type", "fixed"))
    delay = int(backoff.get("delay") or 0)
    if kind == "fixed":
        wait = delay
    elif kind == "exponential":
        wait = round(2 ** (attempts_made - 1) * delay)
    else:
        strategy = strategies.get(kind) or strategies.get("*")
        if strategy is None:
            raise LookupError(f"unknown backoff strategy {kind!r}: register it with "
                              f"Jobs.backoff({kind!r})")
        custom = strategy(attempts_made, kind, reason, job)
        if inspect.isawaitable(custom):
            custom = await custom
        return -1 if custom is not None and custom < 0 else int(custom or 0)
    jitter = min(float(backoff.get("jitter") or 0), 1.0)
    if jitter > 0:
        wait = int(random.random() * wait * jitter + wait * (1 - jitter))
    return wait

"""The producer side: enqueue, read status, cancel — over one bullmq Queue per job name.

Used by the web process (and by any Python code that wants to start jobs). Job ids are
ours (random, see ids.py), never BullMQ's counter.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import bullmq
from bullmq.redis_connection import SCRIPT_DEFINITIONS, loadScript
from redis.asyncio import Redis
from redis.exceptions import RedisError

from . import keys
from .errors import JobcastError, QueueUnavailable
from .ids import is_job_id, new_job_id
from .redis_client import REDIS_ERRORS, REDIS_FAULTS
from .registry import Jobs
from .resp import FastRedis, Script
from .results import find_result
from .settings import Settings
from .status import CANCELLED_REASON, FIELDS, OWNER_FIELD, JobState, JobStatus

_ADD_JOB = Script(loadScript(SCRIPT_DEFINITIONS["addStandardJob"]))
_ADD_JOB_KEYS = ["wait", "paused", "meta", "id", "completed", "delayed", "active", "events",
                 "marker"]


class JobQueue:
    """Example usage::

        queue = JobQueue(jobs, settings, redis)
        job_id = await queue.enqueue("report", {"title": "Q3", "pages": 20})
        status = await queue.status(job_id)
    """

    def __init__(self, jobs: Jobs, settings: Settings, redis: Redis) -> None:
        self.jobs = jobs
        self.settings = settings
        self.redis = redis
        assert settings.redis_url
        # The two hot calls (enqueue, status) go through the lean pipelined client.
        self.fast = FastRedis(settings.redis_url)
        opts: dict[str, Any] = {"connection": redis, "prefix": settings.prefix}
        self._queues = {spec.name: bullmq.Queue(spec.name, opts) for spec in jobs}
        self._job_opts = {spec.name: self._options(spec.name) for spec in jobs}

    def _options(self, name: str) -> dict[str, Any]:
        spec, s = self.jobs[name], self.settings
        opts: dict[str, Any] = {
            "attempts": spec.attempts,
            "removeOnComplete": {"count": s.keep_completed, "age": s.keep_age_s},
            "removeOnFail": {"count": s.keep_failed, "age": s.keep_age_s},
        }
        if spec.attempts > 1 and spec.backoff_ms:
            opts["backoff"] = {"type": "exponential", "delay": spec.backoff_ms}
        return opts

    async def prepare(self) -> None:
        """Bound every queue's event stream (BullMQ reads the cap from the queue's meta hash)."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for name in self._queues:
                    pipe.hset(f"{self.settings.prefix}:{name}:meta", "opts.maxLenEvents",
                              str(self.settings.max_events))
                await pipe.execute()
        except REDIS_ERRORS as err:
            raise QueueUnavailable(f"Redis is unreachable: {err}") from err

    async def enqueue(self, name: str, payload: Any, owner: str | None = None) -> str:
        """Validate ``payload`` for job ``name`` and add it; returns the new job's id.

        ``owner`` (if the app tracks owners) is stored with the job in the same transaction.
        Raises UnknownJobType, InvalidInput, or QueueUnavailable (nothing was added).
        """
        spec = self.jobs[name]
        data = spec.dump(spec.parse(payload))
        job_id = new_job_id()
        queue = self._queues[name]
        job = bullmq.Job(queue, name, data, {**self._job_opts[name], "jobId": job_id})
        # BullMQ's addStandardJob script, exactly as bullmq's Queue.add would call it.
        add = (_ADD_JOB, queue.scripts.getKeys(_ADD_JOB_KEYS),
               [*queue.scripts.addJobArgs(job), job.timestamp])
        try:
            if owner is None:
                replies = await self.fast.run_many([add])
            else:  # the owner is written in the same transaction as the job
                owner_key = keys.job_key(self.settings.prefix, name, job_id)
                replies = await self.fast.run_many(
                    [add], then=[("HSET", owner_key, OWNER_FIELD, owner)], atomic=True)
        except REDIS_ERRORS as err:
            raise QueueUnavailable(f"Redis is unreachable: {err}") from err
        if isinstance(replies[0], RedisError):  # LOADING, READONLY, OOM...: not added
            raise QueueUnavailable(f"Redis refused the job: {replies[0]}")
        if replies[0] != job_id:
            raise JobcastError(f"BullMQ did not add the job: {replies[0]!r}")
        return job_id

    async def status(self, job_id: str) -> JobStatus | None:
        """The job's current status, or None for an unknown (or malformed, or expired) id."""
        if not is_job_id(job_id):
            return None
        names = list(self._queues)
        try:
            *rows, cancel_mark = await self.fast.pipeline(
                *[("HMGET", keys.job_key(self.settings.prefix, name, job_id), *FIELDS)
                  for name in names],
                ("GET", keys.cancel_key(job_id)),
            )
        except REDIS_ERRORS as err:
            raise QueueUnavailable(f"Redis is unreachable: {err}") from err
        for reply in (*rows, cancel_mark):
            if isinstance(reply, Exception):  # e.g. LOADING while Redis restarts
                raise QueueUnavailable(f"Redis could not answer: {reply}")
        for name, values in zip(names, rows, strict=True):
            if any(v is not None for v in values):
                status = JobStatus.from_fields(job_id, name, values)
                if cancel_mark and not status.state.is_terminal:
                    # Cancel asked, the worker has not stopped it yet: say so already.
                    return status.with_state(JobState.CANCELLED)
                return status
        if cancel_mark:
            # A waiting job that was cancelled is removed from its queue; the mark remains.
            job, _, owner = cancel_mark.partition(":")
            return JobStatus(job_id, job, JobState.CANCELLED, reason=CANCELLED_REASON,
                             owner=owner or None)
        return None

    async def last_reason(self, status: JobStatus) -> str | None:
        """Why the job's last attempt failed (it may be retrying now)."""
        try:
            reason: str | None = await self.fast.call(
                "HGET", keys.job_key(self.settings.prefix, status.job, status.job_id), "failedReason")
            return reason
        except REDIS_FAULTS:
            return None

    async def exact_state(self, status: JobStatus) -> JobStatus:
        """Refine a non-terminal status with BullMQ's own state (waiting, delayed, active)."""
        if status.state.is_terminal:
            return status
        try:
            state = await self._queues[status.job].backend.getState(status.job_id)
        except REDIS_ERRORS as err:
            raise QueueUnavailable(f"Redis is unreachable: {err}") from err
        mapped = {"active": JobState.ACTIVE, "delayed": JobState.DELAYED}.get(state, JobState.WAITING)
        return status.with_state(mapped)

    async def cancel(self, job_id: str) -> JobStatus | None:
        """Stop a job: a waiting one is removed, a running one is stopped by its worker.

        Returns the status after the request, or None if the job is unknown.
        """
        status = await self.status(job_id)
        if status is None or status.state.is_terminal:
            return status
        ttl = self.settings.keep_age_s
        try:
            mark = f"{status.job}:{status.owner or ''}"
            await self.redis.set(keys.cancel_key(job_id), mark, ex=ttl)
            removed = await self._queues[status.job].backend.remove(job_id, True)
            if removed:
                # It had not started: removing it is the whole cancel. Tell the watchers
                # through the queue's own event stream, which every web process reads.
                await self.redis.xadd(
                    keys.events_key(self.settings.prefix, status.job),
                    {"event": "failed", "jobId": job_id, "failedReason": CANCELLED_REASON,
                     "prev": "waiting"},
                    maxlen=self.settings.max_events, approximate=True,
                )
            else:
                await self.redis.publish(keys.CANCEL_CHANNEL, job_id)
        except REDIS_ERRORS as err:
            raise QueueUnavailable(f"Redis is unreachable: {err}") from err
        return dataclasses.replace(status, state=JobState.CANCELLED, reason=CANCELLED_REASON,
                                   finished_at=int(time.time() * 1000))

    def result_file(self, job_id: str) -> Path | None:
        """The job's result file, if it wrote one (only ever inside the results folder)."""
        return find_result(self.settings.results_path, job_id)

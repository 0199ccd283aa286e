"""The producer side: enqueue, read status, cancel — on BullMQ's scripts, one queue per job
(or per shared ``queue=``).

Used by the web process, the CLI and any Python code that starts jobs. Job ids are ours
(random, see ids.py), never BullMQ's counter.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from redis.exceptions import RedisError

from . import names, tracing
from ._bullmq import QueueKeys, calls
from ._bullmq.workers import count_workers
from .errors import InvalidInput, JobcastError, QueueUnavailable
from .ids import is_job_id, new_job_id
from .output import Entry, read_entries
from .redis import REDIS_ERRORS, FastRedis
from .redis.checks import is_out_of_memory, redis_warnings
from .registry import Jobs, JobSpec
from .results import find_result
from .settings import Settings
from .status import FIELDS, JobState, JobStatus

log = logging.getLogger("jobcast.web")
_STATES = {"active": JobState.ACTIVE, "delayed": JobState.DELAYED}
_CANCEL_WAIT_S = 5.0


class IdempotencyConflict(JobcastError):
    """An Idempotency-Key came back with a different input than the first time."""


class CannotCancel(JobcastError):
    """The job runs on a worker jobcast cannot stop (another BullMQ worker, e.g. Node's)."""


@dataclass(frozen=True)
class CancelResult:
    status: JobStatus
    stopped: bool
    """False while the worker has not recorded the cancel yet (it was asked to)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _unavailable(err: Exception) -> QueueUnavailable:
    if is_out_of_memory(err):
        return QueueUnavailable("Redis is full (maxmemory reached) and refused the job; nothing "
                                "was added; try again once it has room")
    return QueueUnavailable(f"Redis is unreachable or refused: {err}")


PLACED_MAX = 20_000


class JobQueue:
    """Example usage::

        queue = JobQueue(jobs, settings)
        job_id = await queue.enqueue("report", {"title": "Q3", "pages": 20})
        status = await queue.status(job_id)
    """

    def __init__(self, jobs: Jobs, settings: Settings, fast: FastRedis | None = None) -> None:
        self.jobs = jobs
        self.settings = settings
        self.fast = fast or FastRedis(settings.redis_target("the web"))
        self.queues = jobs.queues()
        self.keys = {queue: settings.queue_keys(queue) for queue in self.queues}
        self._opts = {spec.name: self._options(spec) for spec in jobs}
        self.warnings: list[str] = []
        """What is wrong with the Redis in use (its eviction policy), as found when connecting."""
        self.placed: dict[str, str] = {}
        """The queue of each job this process added lately (its socket usually joins next):
        a status look then reads one queue, not every one, and the bridge keeps the job's
        first progress for that socket. Bounded; oldest forgotten first."""

    def _place(self, job_id: str, queue: str) -> None:
        placed = self.placed
        if len(placed) >= PLACED_MAX:
            del placed[next(iter(placed))]
        placed[job_id] = queue

    def _options(self, spec: JobSpec) -> dict[str, Any]:
        s = self.settings
        opts: dict[str, Any] = {
            "attempts": spec.attempts,
            "removeOnComplete": {"count": s.keep_completed, "age": s.keep_age_s},
            "removeOnFail": {"count": s.keep_failed, "age": s.keep_age_s},
        }
        if spec.attempts > 1 and spec.backoff_ms:
            opts["backoff"] = {"type": "exponential", "delay": spec.backoff_ms}
        return opts

    def job_name(self, queue: str, stored_name: str | None) -> str:
        """The registered job a stored job belongs to (its Socket.IO event prefix)."""
        specs = self.queues.get(queue, [])
        if len(specs) == 1:
            return specs[0].name
        return stored_name or queue

    async def prepare(self) -> None:
        """Bound every queue's event stream (BullMQ reads the cap from the queue's meta hash),
        and look at the Redis itself (it warns when Redis may evict jobs)."""
        await self._send(*[("HSET", k.meta, "opts.maxLenEvents", str(self.settings.max_events))
                           for k in self.keys.values()])
        self.warnings = await redis_warnings(self.fast)
        for warning in self.warnings:
            log.warning("%s", warning)

    async def _send(self, *commands: tuple[Any, ...]) -> list[Any]:
        try:
            replies = await self.fast.pipeline(*commands)
        except REDIS_ERRORS as err:
            raise _unavailable(err) from err
        for reply in replies:
            if isinstance(reply, (RedisError, OSError)):  # LOADING, READONLY, OOM...
                raise _unavailable(reply)
        return replies

    # -- enqueue ---------------------------------------------------------------------------

    async def enqueue(self, name: str, payload: Any, owner: str | None = None,
                      idempotency_key: str | None = None) -> str:
        """Validate ``payload`` (JSON text, or a decoded value) for job ``name`` and add it;
        returns the new job's id.

        ``owner`` (if the app tracks owners) is stored with the job in the same transaction.
        With an ``idempotency_key`` a retry (the same key, owner and input) answers the first
        job's id instead of adding another, for as long as jobs are kept; the same key with
        another input raises IdempotencyConflict. Raises UnknownJob, InvalidInput, or
        QueueUnavailable (nothing was added).
        """
        spec = self.jobs[name]
        parsed = spec.parse_json(payload) if isinstance(payload, (bytes, str)) else \
            spec.parse(payload)
        data = spec.dump(parsed)
        job_id = new_job_id()
        keys = self.keys[spec.queue]
        opts = {**self._opts[name], "jobId": job_id}
        then: list[tuple[Any, ...]] = []
        dedup = None
        if idempotency_key is not None:
            dedup, record, fingerprint = self._idempotency(name, owner, idempotency_key, data)
            opts["de"] = {"id": dedup, "ttl": self.settings.keep_age_s * 1000}
            # In the same transaction: the first request's input stays with its key.
            then = [("SET", record, fingerprint, "NX", "EX", self.settings.keep_age_s),
                    ("GET", record)]
        with tracing.span(f"add {spec.queue}", tracing.PRODUCER,
                          attributes={"jobcast.job.id": job_id, "jobcast.job.name": name}):
            if (context := tracing.metadata()) is not None:
                opts["tm"] = context  # where BullMQ's telemetry keeps it
        add = calls.add_job(keys, job_id, name, data, opts, _now_ms(), deduplication_id=dedup)
        if owner is not None:  # the owner is written in the same transaction as the job
            then.append(("HSET", keys.job(job_id), names.OWNER_FIELD, owner))
        try:
            replies = await self.fast.run_many([add], then=then, atomic=bool(then))
        except REDIS_ERRORS as err:
            raise _unavailable(err) from err
        for reply in replies:
            if isinstance(reply, (RedisError, OSError)):  # LOADING, READONLY, OOM: not added
                raise _unavailable(reply)
        added = replies[0]
        if idempotency_key is not None:
            if replies[2] != fingerprint:
                raise IdempotencyConflict(
                    "this Idempotency-Key was already used with a different input "
                    f"(job {added}); use a new key for new work")
            if added != job_id and owner is not None:
                # A replay: the owner field just written belongs to no job.
                await self._send(("DEL", keys.job(job_id)))
            return str(added)
        if added != job_id:
            raise JobcastError(f"BullMQ did not add the job: {added!r}")
        self._place(job_id, spec.queue)
        return job_id

    async def enqueue_many(self, name: str, items: list[Any],
                           owner: str | None = None) -> list[str]:
        """Validate every item first, then add them all in one transaction (BullMQ's addBulk
        is a MULTI too), or none; the new ids, in order. InvalidInput names each bad item by
        its index (``details``: ``[{index, field, message}]``)."""
        spec = self.jobs[name]
        keys = self.keys[spec.queue]
        problems: list[dict[str, Any]] = []
        adds, then, ids = [], [], []
        now = _now_ms()
        for index, item in enumerate(items):
            try:
                data = spec.dump(spec.parse(item))
            except InvalidInput as err:
                problems += [{"index": index, **detail} for detail in err.details]
                continue
            job_id = new_job_id()
            ids.append(job_id)
            opts = {**self._opts[name], "jobId": job_id}
            with tracing.span(f"add {spec.queue}", tracing.PRODUCER,
                              attributes={"jobcast.job.id": job_id, "jobcast.job.name": name}):
                if (context := tracing.metadata()) is not None:
                    opts["tm"] = context
            adds.append(calls.add_job(keys, job_id, name, data, opts, now))
            if owner is not None:
                then.append(("HSET", keys.job(job_id), names.OWNER_FIELD, owner))
        if problems:
            raise InvalidInput(problems)
        try:
            replies = await self.fast.run_many(adds, then=then, atomic=True)
        except REDIS_ERRORS as err:
            raise _unavailable(err) from err
        for reply in replies:
            if isinstance(reply, (RedisError, OSError)):
                raise _unavailable(reply)
        for job_id in ids:
            self._place(job_id, spec.queue)
        return ids

    def _idempotency(self, name: str, owner: str | None, key: str,
                     data: str) -> tuple[str, str, str]:
        """The deduplication id (keys of different owners and jobs never meet), where the
        first input's fingerprint is kept, and this input's fingerprint."""
        dedup = hashlib.sha256(f"{name}\0{owner or ''}\0{key}".encode()).hexdigest()[:40]
        fingerprint = hashlib.sha256(data.encode()).hexdigest()
        # The queue as a hash tag: on a Redis Cluster the record is written in the same
        # transaction as the job, so it must be in the queue's slot.
        return dedup, f"jobcast:idem:{{{self.jobs[name].queue}}}:{dedup}", fingerprint

    # -- status ----------------------------------------------------------------------------

    async def status(self, job_id: str, job: str | None = None) -> JobStatus | None:
        """The job's current status, or None for an unknown (or malformed, or expired) id.

        ``job``, the job's name if the caller knows it (a watching client can say), or the
        queue this process added it to, looks in that queue only: one pipeline of two
        commands instead of two per queue; a wrong guess costs a second look everywhere,
        never a wrong answer."""
        if not is_job_id(job_id):
            return None
        if len(self.keys) > 1:
            queue = self.jobs[job].queue if job is not None and job in self.jobs \
                else self.placed.get(job_id)
            if queue is not None:
                found = await self._status_in([queue], job_id)
                if found is not None:
                    return found
        return await self._status_in(list(self.keys), job_id)

    async def _status_in(self, queues: list[str], job_id: str) -> JobStatus | None:
        replies = await self._send(
            *[("HMGET", self.keys[q].job(job_id), "name", *FIELDS) for q in queues],
            *[("GET", names.cancel_key(q, job_id)) for q in queues])
        rows, records = replies[:len(queues)], replies[len(queues):]
        for queue, values, record in zip(queues, rows, records, strict=True):
            if any(v is not None for v in values):
                return JobStatus.from_fields(job_id, self.job_name(queue, values[0]), values[1:])
            if record:
                # A waiting job that was cancelled is removed from its queue; the record stays.
                return JobStatus.cancelled_record(job_id, _record(record))
        return None

    async def last_reason(self, status: JobStatus) -> str | None:
        """Why the job's last attempt failed (it may be retrying now)."""
        queue = self.jobs[status.job].queue if status.job in self.jobs else status.job
        try:
            (reason,) = await self._send(("HGET", self.keys[queue].job(status.job_id),
                                          "failedReason"))
        except (QueueUnavailable, KeyError):
            return None
        return reason if isinstance(reason, str) else None

    async def exact_state(self, status: JobStatus) -> JobStatus:
        """Refine a non-terminal status with BullMQ's own state (waiting, delayed, active)."""
        if status.state.is_terminal:
            return status
        keys = self.keys[self.queue_of(status)]
        try:
            state = await self.fast.run(*calls.get_state(keys, status.job_id))
        except (*REDIS_ERRORS, RedisError) as err:
            raise _unavailable(err) from err
        return status.with_state(_STATES.get(state, JobState.WAITING))

    def queue_of(self, status: JobStatus) -> str:
        """The BullMQ queue a job travels on."""
        return self.jobs[status.job].queue if status.job in self.jobs else status.job

    # -- cancel ----------------------------------------------------------------------------

    async def cancel(self, job_id: str, wait_s: float = _CANCEL_WAIT_S) -> CancelResult | None:
        """Stop a job: a waiting one is removed, a running one is stopped by its worker (this
        waits up to ``wait_s`` for the worker to record it). None if the job is unknown;
        CannotCancel if a worker other than jobcast's runs it."""
        status = await self.status(job_id)
        if status is None or status.state.is_terminal:
            return None if status is None else CancelResult(status, True)
        queue = self.queue_of(status)
        keys = self.keys[queue]
        record = orjson.dumps({"job": status.job, "owner": status.owner,
                               "createdAt": status.created_at, "finishedAt": _now_ms()})
        mark = names.cancel_key(queue, job_id)
        await self._send(("SET", mark, record, "EX", self.settings.keep_age_s))
        try:
            removed = await self.fast.run(*calls.remove_job(keys, job_id))
        except (*REDIS_ERRORS, RedisError) as err:
            raise _unavailable(err) from err
        if removed == 1:  # it had not started: removing it (event "removed") is the cancel
            return CancelResult(JobStatus.cancelled_record(job_id, _record(record)), True)
        (token,) = await self._send(("GET", keys.lock(job_id)))
        if token and not str(token).startswith(names.TOKEN_PREFIX):
            await self._send(("DEL", mark))
            raise CannotCancel("this job is running on a worker jobcast cannot stop (not a "
                               "jobcast worker); it will finish there")
        await self._send(("PUBLISH", names.CANCEL_CHANNEL, names.cancel_message(queue, job_id)))
        return await self._await_end(job_id, wait_s)

    async def _await_end(self, job_id: str, wait_s: float) -> CancelResult:
        """Poll (briefly) until the worker has recorded the job's end."""
        deadline = time.monotonic() + wait_s
        delay = 0.02
        while True:
            status = await self.status(job_id)
            if status is None:  # removed meanwhile (e.g. by its retention): nothing runs
                return CancelResult(JobStatus(job_id, "", JobState.CANCELLED), True)
            if status.state.is_terminal:
                return CancelResult(status, True)
            if time.monotonic() > deadline:
                return CancelResult(await self.exact_state(status), False)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)

    async def entries(self, status: JobStatus, kind: str, after: int = -1
                      ) -> tuple[list[Entry], int]:
        """A job's stored output chunks or log lines after seq ``after``, and how many there
        are in all."""
        try:
            return await read_entries(self.fast, self.keys[self.queue_of(status)],
                                      status.job_id, kind, after)
        except (*REDIS_ERRORS, RedisError) as err:
            raise _unavailable(err) from err

    async def depths(self) -> dict[str, dict[str, int]]:
        """Per queue: how many jobs are in each state (waiting counts the prioritized too)."""
        queues = list(self.keys)
        commands = [c for q in queues for c in _depth_commands(self.keys[q])]
        replies = await self._send(*commands)
        per = len(commands) // max(1, len(queues))
        return {q: _depths_of(replies[per * i:per * (i + 1)]) for i, q in enumerate(queues)}

    async def workload(self) -> dict[str, dict[str, int | None]]:
        """Per queue: jobs waiting (incl. prioritized), active, and BullMQ workers serving it."""
        depths = await self.depths()
        try:
            clients: str | None = str(await self.fast.call("CLIENT", "LIST"))
        except RedisError:  # an ACL user without CLIENT LIST: the count is unknown, not 0
            clients = None
        return {queue: {"waiting": d["waiting"], "active": d["active"],
                        "workers": count_workers(clients, self.settings.prefix, queue)
                        if clients is not None else None}
                for queue, d in depths.items()}

    def result_file(self, job_id: str) -> Path | None:
        """The job's result file, if it wrote one (only ever inside the results folder)."""
        return find_result(self.settings.results_path, job_id)


STATES = ("waiting", "active", "delayed", "completed", "failed", "paused")


def _depth_commands(keys: QueueKeys) -> list[tuple[Any, ...]]:
    return [("LLEN", keys.wait), ("ZCARD", keys.prioritized), ("LLEN", keys.active),
            ("ZCARD", keys.delayed), ("ZCARD", keys.completed), ("ZCARD", keys.failed),
            ("LLEN", keys.paused)]


def _depths_of(replies: list[Any]) -> dict[str, int]:
    wait, prioritized, active, delayed, completed, failed, paused = (int(r) for r in replies)
    return {"waiting": wait + prioritized, "active": active, "delayed": delayed,
            "completed": completed, "failed": failed, "paused": paused}


def _record(raw: Any) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}

"""The BullMQ consumer loop for one queue: fetch, lock, complete, fail — on BullMQ's own scripts.

bullmq-python's Worker is correct but slow in the hot path (redis-py costs ~100 µs of CPU per
command, and it completes jobs without fetching the next one). This loop keeps BullMQ's
protocol exactly (the same Lua scripts, keys and events, so Node tools and workers interoperate)
and spends less per job:
- the hot commands go through FastRedis (one pipelined connection, hiredis);
- a job's last progress value and its completion travel in one round trip;
- completing a job fetches the next waiting one in the same script call (as Node does);
- failures, retries and backoff go through bullmq's own Job.moveToFailed (the rare path).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import bullmq
import msgpack
import orjson
from bullmq.custom_errors import DelayedError
from bullmq.redis_connection import SCRIPT_DEFINITIONS, loadScript
from bullmq.scripts import raw2NextJobData
from redis.asyncio import Redis

from .redis_client import REDIS_FAULTS
from .resp import FastRedis, Script
from .settings import Settings

log = logging.getLogger("jobcast.worker")

_SCRIPTS = {name: Script(loadScript(SCRIPT_DEFINITIONS[name]))
            for name in ("moveToActive", "moveToFinished", "updateProgress", "extendLocks",
                         "moveStalledJobsToWait")}
# Not in bullmq-python's own list, but shipped with it: releases a job's lock and puts it back
# at the head of the wait list (Node's worker uses it too).
_SCRIPTS["moveJobFromActiveToWait"] = Script(
    (Path(bullmq.__file__).parent / "commands" / "moveJobFromActiveToWait-9.lua").read_text())
_DRAIN_DELAY_S = 5.0
_MAX_BLOCK_S = 10.0


class Outcome:
    """What a processed job returns: its result and the progress value not yet sent."""

    __slots__ = ("result", "progress")

    def __init__(self, result: Any, progress: float | None) -> None:
        self.result = result
        self.progress = progress


Processor = Callable[[bullmq.Job, str], Awaitable[Outcome]]


def _now_ms() -> int:
    return int(time.time() * 1000)


class QueueConsumer:
    """Runs ``process`` for the jobs of one queue, ``concurrency`` at a time."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        fast: FastRedis,
        redis: Redis,
        blocking: Redis,
        process: Processor,
        concurrency: int,
    ) -> None:
        self.name = name
        self.settings = settings
        self.concurrency = concurrency
        self._fast = fast
        self._blocking = blocking
        self._process = process
        # bullmq's Queue (on redis-py) serves the rare paths: failures, retries, backoff.
        self.queue = bullmq.Queue(name, {"connection": redis, "prefix": settings.prefix,
                                         "lockDuration": settings.lock_duration_ms})
        self.keys = self.queue.keys
        self._prefix_key = self.keys[""]
        self._active: dict[str, str] = {}  # job id -> lock token
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._token_seq = 0
        self._worker_id = f"{time.time_ns():x}"
        self._block_until = 0
        self._closing = False
        self._stopped = asyncio.Event()
        self._waiting: asyncio.Task[Any] | None = None
        self._fetch_keys = [self.keys[k] for k in (
            "wait", "active", "prioritized", "events", "stalled", "limiter", "delayed", "paused",
            "meta", "pc", "marker")]

    # -- the loop -------------------------------------------------------------------------

    async def run(self) -> None:
        """Fetch and run jobs until close() is called."""
        helpers = [asyncio.ensure_future(self._renew_locks()),
                   asyncio.ensure_future(self._check_stalled())]
        try:
            while not self._closing:
                await self._slots.acquire()
                if self._closing:
                    self._slots.release()
                    break
                try:
                    job = await self._next_job()
                except asyncio.CancelledError:
                    self._slots.release()
                    if self._closing:
                        break
                    raise
                except REDIS_FAULTS as err:  # unreachable, or LOADING/READONLY/...: wait
                    self._slots.release()
                    log.warning("queue %s: Redis unavailable (%s); retrying", self.name, err)
                    await asyncio.sleep(1)
                    continue
                if job is None:
                    self._slots.release()
                elif self._closing:  # fetched while close() was asked: give it straight back
                    try:
                        await self._hand_back_fetched(job)
                    finally:
                        self._slots.release()
                else:
                    self._start(job)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            self._stopped.set()

    def _start(self, job: bullmq.Job) -> None:
        task = asyncio.ensure_future(self._work(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _new_token(self) -> str:
        self._token_seq += 1
        return f"{self._worker_id}:{self._token_seq}"

    async def _next_job(self) -> bullmq.Job | None:
        """Take a waiting job (moveToActive), or block on the queue's marker until one comes."""
        job = await self._move_to_active()
        if job is not None:
            return job
        self._waiting = asyncio.ensure_future(self._wait_for_marker())
        try:
            await self._waiting
        finally:
            self._waiting = None
        return await self._move_to_active()

    async def _wait_for_marker(self) -> None:
        if self._block_until:
            timeout = min(_MAX_BLOCK_S, max(0.001, (self._block_until - _now_ms()) / 1000))
        else:
            timeout = _DRAIN_DELAY_S
        popped = await self._blocking.bzpopmin(self.keys["marker"], timeout)
        self._block_until = int(float(popped[2])) if popped else 0

    async def _move_to_active(self) -> bullmq.Job | None:
        token = self._new_token()
        opts = msgpack.packb({"token": token, "lockDuration": self.settings.lock_duration_ms,
                              "limiter": None}, use_bin_type=True)
        raw = await self._fast.run(_SCRIPTS["moveToActive"], self._fetch_keys,
                                   [self._prefix_key, _now_ms(), opts])
        return self._job_from(raw, token)

    def _job_from(self, raw: Any, token: str) -> bullmq.Job | None:
        data, job_id, _limit_until, delay_until = raw2NextJobData(raw)
        if delay_until:
            self._block_until = max(int(delay_until), 0)
        if not data:
            return None
        job = bullmq.Job.fromJSON(self.queue, data, job_id)
        job.token = token
        self._active[job.id] = token
        return job

    async def _work(self, job: bullmq.Job | None) -> None:
        """Run jobs in this slot: the one given, then any that completing it fetched."""
        try:
            while job is not None:
                job = await self._run_one(job)
                if self._closing and job is not None:
                    await self._hand_back_fetched(job)
                    job = None
        finally:
            self._slots.release()

    async def _run_one(self, job: bullmq.Job) -> bullmq.Job | None:
        token = job.token
        assert token is not None
        try:
            try:
                outcome = await self._process(job, token)
            except DelayedError:
                return None  # moved elsewhere by the processor (handed back)
            except Exception as err:
                await self._fail(job, token, err)
                return None
            try:
                return await self._complete(job, token, outcome)
            except Exception as err:
                log.warning("job %s %s: could not record its completion: %s",
                            self.name, job.id, err)
                return None
        finally:
            # Whatever happened (even a cancellation), stop renewing this job's lock: if it
            # did not finish, the stalled check gives it back instead of it hanging in active.
            self._active.pop(job.id, None)

    async def _complete(self, job: bullmq.Job, token: str, outcome: Outcome) -> bullmq.Job | None:
        fetch_next = not self._closing
        keys, args = self.queue.scripts.moveToFinishedArgs(
            job, outcome.result, "returnvalue", job.opts.get("removeOnComplete", False),
            "completed", token, fetch_next)
        calls = [] if outcome.progress is None else [self._progress_call(job.id, outcome.progress)]
        calls.append((_SCRIPTS["moveToFinished"], keys, args))
        reply = (await self._fast.run_many(calls))[-1]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, int) and reply < 0:
            raise RuntimeError(f"BullMQ refused the completion (code {reply}); "
                               "another worker may own the job now")
        # The next job (if any) is locked with this same token, as in Node's worker.
        return self._job_from(reply, token) if fetch_next else None

    async def _fail(self, job: bullmq.Job, token: str, err: Exception) -> None:
        """bullmq's own failure path: retry with backoff, or move to failed."""
        try:
            await job.moveToFailed(err, token)
        except Exception as problem:
            log.warning("job %s %s: could not record its failure: %s", self.name, job.id, problem)

    async def _hand_back_fetched(self, job: bullmq.Job) -> None:
        """A job fetched while closing: give it straight back to the queue."""
        try:
            await self.hand_back(job.id, job.token or "")
        finally:
            self._active.pop(job.id, None)

    async def hand_back(self, job_id: str, token: str) -> None:
        """Release the job's lock and move it from active to the head of wait (BullMQ's
        moveJobFromActiveToWait, which also emits its "waiting" event)."""
        keys = [self.keys[k] for k in ("active", "wait", "stalled", "paused", "meta", "limiter",
                                       "prioritized", "marker", "events")]
        await self._fast.run(_SCRIPTS["moveJobFromActiveToWait"], keys,
                             [job_id, token, f"{self._prefix_key}{job_id}"])

    def _progress_call(self, job_id: str, value: float) -> tuple[Script, list[Any], list[Any]]:
        """BullMQ's updateProgress: store it on the job and publish the progress event."""
        return (_SCRIPTS["updateProgress"],
                [f"{self._prefix_key}{job_id}", self.keys["events"], self.keys["meta"]],
                [job_id, orjson.dumps(value).decode()])

    async def send_progress(self, job_id: str, value: float) -> None:
        await self._fast.run(*self._progress_call(job_id, value))

    # -- locks and stalls -----------------------------------------------------------------

    async def _renew_locks(self) -> None:
        """Keep the locks of running jobs fresh (BullMQ declares a job stalled without)."""
        interval = self.settings.lock_duration_ms / 2000
        while True:
            await asyncio.sleep(interval)
            if not self._active:
                continue
            sent = dict(self._active)
            ids, tokens = list(sent), list(sent.values())
            try:
                failed = await self._fast.run(
                    _SCRIPTS["extendLocks"], [self.keys["stalled"]],
                    [self._prefix_key, msgpack.packb(tokens, use_bin_type=True),
                     msgpack.packb(ids, use_bin_type=True), self.settings.lock_duration_ms])
                for job_id in failed or []:
                    if self._active.get(job_id) == sent.get(job_id):
                        # Still ours and running (not just finished): another worker may
                        # take it over when the stalled check runs.
                        log.warning("job %s %s: its lock could not be renewed", self.name, job_id)
            except REDIS_FAULTS as err:
                log.warning("queue %s: lock renewal failed (%s); retrying", self.name, err)

    async def _check_stalled(self) -> None:
        """Put back jobs whose worker died (their lock expired), as every BullMQ worker does."""
        interval = self.settings.stalled_interval_ms / 1000
        keys = [self.keys[k] for k in ("stalled", "wait", "active", "stalled-check", "meta",
                                       "paused", "marker", "events", "repeat")]
        while True:
            try:
                stalled = await self._fast.run(
                    _SCRIPTS["moveStalledJobsToWait"], keys,
                    [self.settings.max_stalled_count, self._prefix_key, _now_ms(),
                     self.settings.stalled_interval_ms])
                for job_id in stalled or []:
                    log.warning("job %s %s stalled (its worker stopped renewing the lock)",
                                self.name, job_id)
            except REDIS_FAULTS as err:
                log.warning("queue %s: stalled check failed (%s)", self.name, err)
            await asyncio.sleep(interval)

    # -- shutdown -------------------------------------------------------------------------

    async def close(self) -> None:
        """Take no new jobs; return when the running ones are done (or handed back) and the
        fetch loop has stopped (a job it was fetching is handed back too)."""
        self._closing = True
        if self._waiting is not None:
            self._waiting.cancel()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._stopped.wait()

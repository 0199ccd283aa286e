"""The worker process: runs the registered jobs from their BullMQ queues.

Each job name has its own queue and its own consumer loop (consumer.py; async jobs run
``concurrency`` at once, cpu_bound jobs ``cpu_workers`` at once, each in a child process). This
module runs one job: context, progress, timeout, cancel, clean failure reasons. It also
keeps a heartbeat for ``jobcast worker --check``, listens for cancel requests, and on
SIGTERM lets active jobs finish for ``shutdown_grace_s`` before handing the rest back to the
queue, so none is lost.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

import bullmq
import orjson
from bullmq.custom_errors import DelayedError, UnrecoverableError
from redis.asyncio import Redis

from . import keys
from .child import ChildCrashed, ChildError, clean_reason, preload, run_in_child
from .consumer import Outcome, QueueConsumer
from .context import JobContext, JobInfo
from .errors import JobCancelled, JobFailed
from .progress import ProgressCoalescer
from .redis_client import REDIS_ERRORS, REDIS_FAULTS, connect
from .registry import Jobs, JobSpec
from .resp import FastRedis
from .results import sweep_forever
from .settings import Settings
from .status import CANCELLED_REASON

log = logging.getLogger("jobcast.worker")

HEARTBEAT_INTERVAL_S = 5.0
CANCEL_SWEEP_S = 2.0
BLOCKING_READ_TIMEOUT_S = 30.0
"""Longer than the longest wait for the queue's marker (10 s), so waiting is not a timeout."""


class JobError(Exception):
    """A job attempt failed; ``str()`` is the clean reason stored and shown to users."""


@dataclass
class RunningJob:
    """A job this process is running, and what was asked of it."""

    task: asyncio.Task[Any]
    cancel_requested: bool = False
    hand_back_requested: bool = False

    def cancel(self) -> None:
        self.cancel_requested = True
        self.task.cancel()

    def hand_back(self) -> None:
        self.hand_back_requested = True
        self.task.cancel()


class JobWorker:
    """Runs the jobs of a registry until ``stop`` is set.

    Example usage::

        stop = asyncio.Event()
        await JobWorker(jobs, settings).run(stop)
    """

    def __init__(self, jobs: Jobs, settings: Settings, jobs_module: str | None = None) -> None:
        if not settings.redis_url:
            raise ValueError("the worker needs settings.redis_url")
        self.url: str = settings.redis_url
        self.jobs = jobs
        self.settings = settings
        self.redis: Redis = connect(settings.redis_url)
        self.fast = FastRedis(settings.redis_url)
        self._running: dict[str, RunningJob] = {}
        self._consumers: dict[str, QueueConsumer] = {}
        self._blocking: list[Redis] = []
        if any(spec.cpu_bound for spec in jobs):
            preload([jobs_module] if jobs_module else [])

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        for spec in self.jobs:
            concurrency = spec.concurrency or (s.cpu_workers if spec.cpu_bound else s.concurrency)
            blocking = connect(self.url, read_timeout=BLOCKING_READ_TIMEOUT_S)
            self._blocking.append(blocking)
            self._consumers[spec.name] = QueueConsumer(
                spec.name, s, self.fast, self.redis, blocking, self._processor(spec), concurrency)
        loops = [asyncio.ensure_future(c.run()) for c in self._consumers.values()]
        helpers = [
            asyncio.ensure_future(self._heartbeat()),
            asyncio.ensure_future(self._listen_for_cancels()),
            asyncio.ensure_future(self._sweep_cancels()),
            asyncio.ensure_future(sweep_forever(s.results_path, s.result_ttl_s)),
        ]
        log.info("worker %s ready: %s", os.getpid(),
                 ", ".join(f"{c.name}×{c.concurrency}" for c in self._consumers.values()))
        try:
            await stop.wait()
        finally:
            await self._shutdown()
            for task in helpers + loops:
                task.cancel()
            await asyncio.gather(*helpers, *loops, return_exceptions=True)
            try:
                await self.redis.delete(keys.heartbeat_key(socket.gethostname(), os.getpid()))
            except REDIS_ERRORS:
                pass
            await self.fast.aclose()
            for client in (self.redis, *self._blocking):
                await client.aclose()
            log.info("worker %s stopped", os.getpid())

    async def _shutdown(self) -> None:
        """Let active jobs finish for the grace period, then hand the rest back to the queue."""
        closing = asyncio.ensure_future(
            asyncio.gather(*(c.close() for c in self._consumers.values())))
        if self._running:
            log.info("stopping: waiting up to %gs for %d active job(s)",
                     self.settings.shutdown_grace_s, len(self._running))
        done, _ = await asyncio.wait({closing}, timeout=self.settings.shutdown_grace_s)
        if not done:
            log.warning("handing %d unfinished job(s) back to the queue", len(self._running))
            for running in list(self._running.values()):
                running.hand_back()
            await closing

    def _processor(self, spec: JobSpec) -> Any:
        async def process(job: bullmq.Job, token: str) -> Outcome:
            return await self._process(spec, job, token)

        return process

    async def _process(self, spec: JobSpec, job: bullmq.Job, token: str) -> Outcome:
        job_id = job.id
        if job.attemptsStarted > 1:  # a retry, or a re-run after a stall or hand-back
            if await self.fast.call("EXISTS", keys.cancel_key(job_id)):
                # Cancelled while its previous worker died: nobody else will stop it.
                raise UnrecoverableError(CANCELLED_REASON)
            if job.progress:  # this run starts from 0, for late joiners' snapshots too
                await self._consumers[spec.name].send_progress(job_id, 0)
        info = JobInfo(job_id, spec.name, job.attemptsMade + 1, self.settings.results_path)
        coalescer = ProgressCoalescer(
            functools.partial(self._consumers[spec.name].send_progress, job_id),
            self.settings.progress_interval_ms / 1000)
        task = asyncio.ensure_future(self._call(spec, job.data, info, coalescer))
        running = RunningJob(task)
        self._running[job_id] = running
        try:
            result = await asyncio.wait_for(asyncio.shield(task), spec.timeout)
            last_progress = await coalescer.finish()
        except TimeoutError:
            task.cancel()  # and wait, so a cpu_bound job's process is really gone
            await asyncio.gather(task, return_exceptions=True)
            raise JobError(f"timed out after {spec.timeout:g} s") from None
        except asyncio.CancelledError:
            if running.hand_back_requested:
                await self._give_back(spec, job_id, token)
                raise DelayedError() from None  # tells bullmq the job moved elsewhere
            if running.cancel_requested:
                raise UnrecoverableError(CANCELLED_REASON) from None
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this worker itself is being torn down
            # The handler raised CancelledError on its own: a failure, not a reason to hang.
            raise JobError("the job was cancelled from inside its handler") from None
        except JobCancelled:
            raise UnrecoverableError(CANCELLED_REASON) from None
        except (JobFailed, JobError) as err:
            raise JobError(str(err)) from None
        except ChildError as err:
            log.error("job %s %s failed:\n%s", spec.name, job_id, err.details)
            raise JobError(err.reason) from None
        except ChildCrashed as err:
            raise JobError(str(err)) from None
        except Exception as err:
            log.exception("job %s %s failed", spec.name, job_id)
            raise JobError(clean_reason(err)) from None
        finally:
            coalescer.discard()  # nothing more goes out for an ended job (no-op after finish)
            if not task.done():
                task.cancel()
            self._running.pop(job_id, None)
        try:
            orjson.dumps(result)
        except TypeError as err:
            raise JobError(f"the job's result is not JSON: {err}") from None
        return Outcome(result, last_progress)

    async def _call(
        self, spec: JobSpec, data: Any, info: JobInfo, coalescer: ProgressCoalescer
    ) -> Any:
        interval = self.settings.progress_interval_ms / 1000
        if spec.cpu_bound:
            return await run_in_child(spec, data, info, coalescer.report, interval)
        running = lambda: self._running.get(info.job_id)  # noqa: E731
        is_cancelled = lambda: bool((r := running()) and r.cancel_requested)  # noqa: E731
        if spec.is_async:
            ctx = JobContext(info, coalescer.report, is_cancelled)
            return await spec.handler(ctx, spec.parse(data))
        # A plain def that is not cpu_bound runs in a thread; progress hops back to the loop.
        loop = asyncio.get_running_loop()
        def report(value: float) -> None:
            loop.call_soon_threadsafe(coalescer.report, value)

        ctx = JobContext(info, report, is_cancelled)
        parsed = spec.parse(data)
        return await asyncio.to_thread(spec.handler, ctx, parsed)

    async def _give_back(self, spec: JobSpec, job_id: str, token: str) -> None:
        try:
            await self._consumers[spec.name].hand_back(job_id, token)
            log.info("handed job %s %s back to the queue", spec.name, job_id)
        except REDIS_FAULTS as err:
            # Its lock will expire and the stalled check puts it back: later, but not lost.
            log.warning("could not hand back job %s: %s", job_id, err)

    async def _heartbeat(self) -> None:
        key = keys.heartbeat_key(socket.gethostname(), os.getpid())
        while True:
            try:
                await self.redis.set(key, str(len(self._running)), ex=int(HEARTBEAT_INTERVAL_S * 3))
            except REDIS_ERRORS as err:
                log.warning("heartbeat: Redis unreachable: %s", err)
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)

    async def _listen_for_cancels(self) -> None:
        """Stop jobs this process runs when someone cancels them (any web process)."""
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(keys.CANCEL_CHANNEL)
                async for message in pubsub.listen():
                    running = self._running.get(message["data"])
                    if running is not None:
                        log.info("cancelling job %s", message["data"])
                        running.cancel()
            except REDIS_ERRORS as err:
                log.warning("cancel listener: Redis unreachable (%s); retrying", err)
                await asyncio.sleep(1)
            finally:
                await pubsub.aclose()

    async def _sweep_cancels(self) -> None:
        """The cancel channel is instant but can miss a message (a job not registered yet,
        the listener reconnecting); the cancel mark in Redis cannot. Look for it now and then."""
        while True:
            await asyncio.sleep(CANCEL_SWEEP_S)
            ids = list(self._running)
            if not ids:
                continue
            try:
                marks = await self.fast.call("MGET", *[keys.cancel_key(i) for i in ids])
            except REDIS_FAULTS:
                continue
            for job_id, mark in zip(ids, marks, strict=True):
                running = self._running.get(job_id)
                if mark and running is not None and not running.cancel_requested:
                    log.info("cancelling job %s (its cancel mark)", job_id)
                    running.cancel()


async def check_heartbeat(settings: Settings) -> bool:
    """True if a worker on this host has beaten recently (``jobcast worker --check``)."""
    if not settings.redis_url:
        return False
    redis = connect(settings.redis_url)
    try:
        async for _ in redis.scan_iter(match=keys.heartbeat_pattern(socket.gethostname())):
            return True
        return False
    except REDIS_ERRORS:
        return False
    finally:
        await redis.aclose()

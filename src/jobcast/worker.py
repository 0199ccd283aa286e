"""The worker process: bullmq Workers for the registered jobs.

Each job name has its own queue and its own bullmq Worker (async jobs run ``concurrency`` at
once; cpu_bound jobs run ``cpu_workers`` at once, each in a child process). The worker also
keeps a heartbeat for ``jobcast worker --check``, listens for cancel requests, and on
SIGTERM lets active jobs finish for ``shutdown_grace_s`` before handing the rest back to the
queue, so none is lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bullmq
import orjson
from bullmq.custom_errors import DelayedError, UnrecoverableError
from redis.asyncio import Redis

from . import keys
from .child import ChildCrashed, ChildError, clean_reason, preload, run_in_child
from .context import JobContext, JobInfo
from .errors import JobCancelled, JobFailed
from .progress import ProgressCoalescer
from .redis_client import REDIS_ERRORS, connect
from .registry import Jobs, JobSpec
from .results import sweep_forever
from .settings import Settings
from .status import CANCELLED_REASON

log = logging.getLogger("jobcast.worker")

HEARTBEAT_INTERVAL_S = 5.0
BLOCKING_READ_TIMEOUT_S = 30.0
"""Longer than bullmq's longest BZPOPMIN (10 s), so a wait for jobs is not a timeout."""
_HAND_BACK_SCRIPT = Path(bullmq.__file__).parent / "commands" / "moveJobFromActiveToWait-9.lua"


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
        self.jobs = jobs
        self.settings = settings
        self.redis: Redis = connect(settings.redis_url)
        self._running: dict[str, RunningJob] = {}
        self._workers: list[bullmq.Worker] = []
        self._hand_back = self.redis.register_script(_HAND_BACK_SCRIPT.read_text())
        if any(spec.cpu_bound for spec in jobs):
            preload([jobs_module] if jobs_module else [])

    @property
    def running(self) -> int:
        return len(self._running)

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        for spec in self.jobs:
            concurrency = spec.concurrency or (s.cpu_workers if spec.cpu_bound else s.concurrency)
            self._workers.append(
                bullmq.Worker(
                    spec.name,
                    self._processor(spec),
                    {
                        # A pooled client, not bullmq's single connection: with one, every
                        # command of every concurrent job waits its turn on one socket.
                        "connection": connect(s.redis_url, read_timeout=BLOCKING_READ_TIMEOUT_S),
                        "prefix": s.prefix,
                        "concurrency": concurrency,
                        "lockDuration": s.lock_duration_ms,
                        "stalledInterval": s.stalled_interval_ms,
                        "maxStalledCount": s.max_stalled_count,
                        "runRetryDelay": 1000,
                        "autorun": True,
                    },
                )
            )
        for worker in self._workers:
            worker.on("error", lambda err, *_: log.warning("queue error: %s", err))
        helpers = [
            asyncio.ensure_future(self._heartbeat()),
            asyncio.ensure_future(self._listen_for_cancels()),
            asyncio.ensure_future(sweep_forever(s.results_path, s.result_ttl_s)),
        ]
        log.info("worker %s ready: %s", os.getpid(),
                 ", ".join(f"{w.name}×{w.opts['concurrency']}" for w in self._workers))
        try:
            await stop.wait()
        finally:
            await self._shutdown()
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            try:
                await self.redis.delete(keys.heartbeat_key(socket.gethostname(), os.getpid()))
            except REDIS_ERRORS:
                pass
            await self.redis.aclose()

    async def _shutdown(self) -> None:
        """Let active jobs finish for the grace period, then hand the rest back to the queue."""
        closing = asyncio.ensure_future(asyncio.gather(*(w.close() for w in self._workers)))
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
        async def process(job: bullmq.Job, token: str) -> Any:
            return await self._process(spec, job, token)

        return process

    async def _process(self, spec: JobSpec, job: bullmq.Job, token: str) -> Any:
        job_id = job.id
        if job.attemptsStarted > 1 and await self.redis.exists(keys.cancel_key(job_id)):
            # Cancelled while its previous worker died: nobody else will stop it.
            raise UnrecoverableError(CANCELLED_REASON)
        info = JobInfo(job_id, spec.name, job.attemptsMade + 1, self.settings.results_path)
        coalescer = ProgressCoalescer(job.updateProgress, self.settings.progress_interval_ms / 1000)
        task = asyncio.ensure_future(self._call(spec, job.data, info, coalescer))
        running = RunningJob(task)
        self._running[job_id] = running
        try:
            result = await asyncio.wait_for(asyncio.shield(task), spec.timeout)
            await coalescer.flush()
        except asyncio.TimeoutError:
            task.cancel()  # and wait, so a cpu_bound job's process is really gone
            await asyncio.gather(task, return_exceptions=True)
            coalescer.discard()
            raise JobError(f"timed out after {spec.timeout:g} s") from None
        except asyncio.CancelledError:
            coalescer.discard()
            if running.hand_back_requested:
                await self._give_back(spec, job_id, token)
                raise DelayedError() from None  # tells bullmq the job moved elsewhere
            if running.cancel_requested:
                raise UnrecoverableError(CANCELLED_REASON) from None
            raise
        except JobCancelled:
            coalescer.discard()
            raise UnrecoverableError(CANCELLED_REASON) from None
        except (JobFailed, JobError) as err:
            coalescer.discard()
            raise JobError(str(err)) from None
        except ChildError as err:
            coalescer.discard()
            log.error("job %s %s failed:\n%s", spec.name, job_id, err.details)
            raise JobError(err.reason) from None
        except ChildCrashed as err:
            coalescer.discard()
            raise JobError(str(err)) from None
        except Exception as err:
            coalescer.discard()
            log.exception("job %s %s failed", spec.name, job_id)
            raise JobError(clean_reason(err)) from None
        finally:
            if not task.done():
                task.cancel()
            self._running.pop(job_id, None)
        try:
            orjson.dumps(result)
        except TypeError as err:
            raise JobError(f"the job's result is not JSON: {err}") from None
        return result

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
        ctx = JobContext(info, lambda v: loop.call_soon_threadsafe(coalescer.report, v),
                         is_cancelled)
        parsed = spec.parse(data)
        return await asyncio.to_thread(spec.handler, ctx, parsed)

    async def _give_back(self, spec: JobSpec, job_id: str, token: str) -> None:
        p = f"{self.settings.prefix}:{spec.name}"
        try:
            await self._hand_back(
                keys=[f"{p}:active", f"{p}:wait", f"{p}:stalled", f"{p}:paused", f"{p}:meta",
                      f"{p}:limiter", f"{p}:prioritized", f"{p}:marker", f"{p}:events"],
                args=[job_id, token, f"{p}:{job_id}"],
            )
            log.info("handed job %s %s back to the queue", spec.name, job_id)
        except REDIS_ERRORS as err:
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

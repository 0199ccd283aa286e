"""The worker process: runs the registered jobs from their BullMQ queues.

Each queue has its own consumer loop (consumer.py): async jobs run ``concurrency`` at once,
thread jobs as many in threads of their own, cpu_bound jobs ``cpu_workers`` at once, each in a
child process. The worker owns what they share: the set of running jobs, the heartbeat, the
cancel listener, and the shutdown — on SIGTERM active jobs get ``shutdown_grace_s`` to finish,
then the rest go back to their queue, so none is lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable
from typing import Any

from redis.asyncio import Redis

from .._bullmq.workers import client_name
from ..metrics.worker import metrics_wanted, worker_metrics
from ..redis import REDIS_ERRORS, FastRedis, connect
from ..redis.checks import redis_warnings
from ..registry import Jobs
from ..results import sweep_forever
from ..settings import Settings
from . import heartbeat
from .cancels import listen_for_cancels, sweep_cancel_records
from .child import preload, start_forkserver
from .consumer import QueueConsumer
from .outcome import Cancelled, Completed, Failed, HandedBack, Outcome
from .runner import Runner
from .running import RunningJob, RunningJobs
from .threads import HandlerThreads

log = logging.getLogger("jobcast.worker")

BLOCKING_READ_TIMEOUT_S = 30.0
"""Longer than the longest wait for the queue's marker (10 s), so waiting is not a timeout."""
CLOSE_TIMEOUT_S = 2.0


async def _bounded(step: Awaitable[Any]) -> None:
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await step
    except (TimeoutError, *REDIS_ERRORS):
        pass


class JobWorker:
    """Runs the jobs of a registry until ``stop`` is set.

    Example usage::

        stop = asyncio.Event()
        await JobWorker(jobs, settings).run(stop)
    """

    def __init__(self, jobs: Jobs, settings: Settings, jobs_module: str | None = None,
                 all_queues: list[str] | None = None) -> None:
        self.target = settings.redis_target("the worker")
        self.jobs = jobs
        self.settings = settings
        self.redis: Redis = connect(self.target)
        self.fast = FastRedis(self.target)
        self.running = RunningJobs()
        self._all_queues = all_queues or list(jobs.queues())
        """Every queue of the app (not only those of --only): result files belong to them."""
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.name = f"jobcast-{socket.gethostname()}-{os.getpid()}"
        """The worker's name in BullMQ (processedBy, CLIENT SETNAME)."""
        self.consumers: dict[str, QueueConsumer] = {}
        self._blocking: list[Redis] = []
        thread_slots = sum(self._concurrency(specs[0].runs_in, specs[0].concurrency)
                           for specs in jobs.queues().values() if specs[0].runs_in == "thread")
        self.threads = HandlerThreads(max(1, thread_slots))
        self.runner = Runner(settings, self.threads)
        self.metrics = worker_metrics() if metrics_wanted(settings) else None
        """Counted only when something can scrape them (a metrics port, or multiprocess)."""
        self._cpu = any(spec.cpu_bound for spec in jobs)
        if self._cpu:
            preload([jobs_module] if jobs_module else [])

    def _concurrency(self, runs_in: str, own: int | None) -> int:
        if own:
            return own
        return self.settings.cpu_workers if runs_in == "process" else self.settings.concurrency

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        if self._cpu:
            await asyncio.to_thread(start_forkserver)
        for queue, specs in self.jobs.queues().items():
            # Named as BullMQ names a worker's blocking connection, so Queue.getWorkers()
            # (Bull Board, /readyz) counts this worker.
            blocking = connect(self.target, read_timeout=BLOCKING_READ_TIMEOUT_S,
                               name=client_name(s.prefix, queue, self.name))
            self._blocking.append(blocking)
            concurrency = max(self._concurrency(spec.runs_in, spec.concurrency) for spec in specs)
            consumer = QueueConsumer(queue, specs, s, self.fast, blocking, self.runner,
                                     self.running, concurrency, self.worker_id,
                                     strategies=self.jobs.backoff_strategies, name=self.name)
            consumer.on_finished = self._finished
            if (metrics := self.metrics) is not None:
                consumer.on_started = self._started
                consumer.on_stalled = lambda queue, n: metrics.stalled.labels(queue).inc(n)
            self.consumers[queue] = consumer
        loops = [asyncio.ensure_future(c.run()) for c in self.consumers.values()]
        helpers = [
            asyncio.ensure_future(heartbeat.beat(self.redis, lambda: str(len(self.running)))),
            asyncio.ensure_future(listen_for_cancels(self.redis, self.running)),
            asyncio.ensure_future(sweep_cancel_records(self.fast, self.running)),
            asyncio.ensure_future(sweep_forever(s.results_path, s.result_ttl_s,
                                                self._existing_jobs)),
        ]
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                for warning in await redis_warnings(self.fast):
                    log.warning("%s", warning)
        except (TimeoutError, *REDIS_ERRORS):
            pass  # Redis not there yet: the loops wait for it
        log.info("worker %s ready: %s", os.getpid(),
                 ", ".join(f"{c.name}×{c.concurrency}" for c in self.consumers.values()))
        try:
            await stop.wait()
        finally:
            await self._shutdown()
            for task in helpers + loops:
                task.cancel()
            # Every step of the way out is bounded: Redis may be gone (or hanging) by now.
            await asyncio.wait([*helpers, *loops], timeout=CLOSE_TIMEOUT_S)
            await _bounded(self.redis.delete(heartbeat.heartbeat_key()))
            await self.fast.aclose()
            for client in (self.redis, *self._blocking):
                await _bounded(client.aclose())
            if self.threads.abandoned:
                log.warning("%d handler thread(s) still running at exit are left behind",
                            self.threads.abandoned)
            log.info("worker %s stopped", os.getpid())

    async def _shutdown(self) -> None:
        """Let active jobs finish for the grace period, then hand the rest back to the queue."""
        closing = asyncio.ensure_future(
            asyncio.gather(*(c.close() for c in self.consumers.values())))
        if len(self.running):
            log.info("stopping: waiting up to %gs for %d active job(s)",
                     self.settings.shutdown_grace_s, len(self.running))
        done, _ = await asyncio.wait({closing}, timeout=self.settings.shutdown_grace_s)
        if not done:
            log.warning("handing %d unfinished job(s) back to the queue", len(self.running))
            for running in self.running:
                running.hand_back()
            # Handing back is a few Redis calls; if Redis is gone too, the stalled check of
            # another worker puts the jobs back once their locks expire.
            done, _ = await asyncio.wait({closing}, timeout=max(5.0, self._lock_s()))
            if not done:
                log.warning("could not record every hand-back in time; the stalled check "
                            "will return those jobs to their queue")
                closing.cancel()

    async def _existing_jobs(self, ids: list[str]) -> set[str]:
        """Which of these job ids still have a job hash, in any of this worker's queues."""
        keys = [self.settings.queue_keys(q) for q in self._all_queues]
        found = await self.fast.pipeline(*[("EXISTS", k.job(i)) for i in ids for k in keys])
        if any(isinstance(f, Exception) for f in found):
            raise next(f for f in found if isinstance(f, Exception))
        per_job = len(keys)
        return {i for n, i in enumerate(ids) if any(found[n * per_job:(n + 1) * per_job])}

    def _lock_s(self) -> float:
        return self.settings.lock_duration_ms / 2000

    def _started(self, running: RunningJob) -> None:
        job = running.job
        delay = job.opts.get("delay")
        self.metrics.started(job.name, job.timestamp,  # type: ignore[union-attr]
                             delay if isinstance(delay, int) else 0, job.attempts_started <= 1)

    def _finished(self, running: RunningJob, outcome: Outcome) -> None:
        took = time.monotonic() - running.started
        if self.metrics is not None:
            self.metrics.finished(running.job.name, _ended(outcome, running.retried), took)
        name = f"{running.queue} {running.id}"
        if isinstance(outcome, Completed):
            log.info("job %s completed in %.2f s", name, took)
        elif isinstance(outcome, Cancelled):
            log.info("job %s cancelled after %.2f s", name, took)
        elif isinstance(outcome, HandedBack):
            log.info("handed job %s back to the queue", name)
        elif isinstance(outcome, Failed):
            log.info("job %s failed after %.2f s: %s", name, took, outcome.reason)


def _ended(outcome: Outcome, retried: bool) -> str:
    """How a run ended, in the metrics' words."""
    if isinstance(outcome, Completed):
        return "completed"
    if isinstance(outcome, Cancelled):
        return "cancelled"
    if isinstance(outcome, Failed):
        return "retried" if retried else "failed"
    return "handed_back"

"""The BullMQ consumer loop of one queue: fetch, lock, record — on BullMQ's own scripts, as a
Node BullMQ 6 worker does it.

bullmq-python's Worker is correct but slow in the hot path (redis-py costs ~100 µs of CPU per
command, and it completes jobs without fetching the next one). This loop keeps BullMQ's
protocol exactly (the same Lua scripts, keys and events, so Node tools and workers interoperate)
and spends less per job:
- every command goes through FastRedis (one pipelined connection, hiredis);
- a job's last progress value and its completion travel in one round trip;
- completing or failing a job fetches the next waiting one in the same script call.
Around the hot path it does what Node's worker does: deferred failures, rate limits (the
queue's, the worker's ``limiter`` and a handler's RateLimited), job schedulers' next
iteration, retries with backoff (custom strategies too), flows' refusals. How a run ended is an
Outcome, and ``record`` is the one place that writes it to Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from .. import names, tracing
from .._bullmq import JobRecord, NextJob, calls, decode_json, next_job
from .._bullmq.options import BackoffStrategy, backoff_delay, finish_opts
from .._bullmq.schedulers import is_scheduler, next_iteration
from ..names import CANCELLED, STATE_FIELD, TOKEN_PREFIX
from ..output import append_call
from ..redis import REDIS_ERRORS, REDIS_FAULTS, FastRedis
from ..redis.checks import is_out_of_memory
from ..registry import JobSpec
from ..settings import Settings
from .outcome import Cancelled, Completed, Failed, HandedBack, Limited, Outcome
from .progress import Progress
from .runner import JobIO, Runner
from .running import RunningJob, RunningJobs

log = logging.getLogger("jobcast.worker")

_DRAIN_DELAY_S = 5.0
_MAX_BLOCK_S = 10.0
_MAX_RATE_LIMIT_DELAY_S = 30.0
"""Node's maximumRateLimitDelay: a rate-limited worker looks again at least this often."""

_REFUSED = {-1: "the job is gone", -2: "its lock is gone", -3: "it is no longer active",
            -6: "another worker holds its lock"}
"""moveToFinished's codes for "this worker no longer owns the job": nothing more to record."""


def now_ms() -> int:
    return int(time.time() * 1000)


class QueueConsumer:
    """Runs the jobs of one queue, ``concurrency`` at a time, until close()."""

    def __init__(
        self,
        queue: str,
        specs: list[JobSpec],
        settings: Settings,
        fast: FastRedis,
        blocking: Redis,
        runner: Runner,
        running: RunningJobs,
        concurrency: int,
        worker_id: str,
        strategies: Mapping[str, BackoffStrategy] | None = None,
        name: str | None = None,
    ) -> None:
        self.name = queue
        self.specs = {spec.name: spec for spec in specs}
        self.settings = settings
        self.concurrency = concurrency
        self.keys = settings.queue_keys(queue)
        self._fast = fast
        self._blocking = blocking
        self._runner = runner
        self._running = running
        self._strategies = dict(strategies or {})
        self._lock_ms = settings.lock_duration_ms
        limiter = specs[0].limiter if specs else None
        self._limiter = {"max": limiter[0], "duration": limiter[1]} if limiter else None
        self._worker_name = name
        self._metrics = settings.metrics_data_points or None
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._token_prefix = f"{TOKEN_PREFIX}{worker_id}:"
        self._token_seq = 0
        self._block_until = 0
        self._limit_until = 0.0
        """Monotonic time until which the queue is rate limited (no fetch before it)."""
        self._closing = False
        self._stopped = asyncio.Event()
        self._waiting: asyncio.Task[Any] | None = None
        self.on_finished: Callable[[RunningJob, Outcome], None] | None = None
        """Told of every run that ended (the worker logs and counts them)."""
        self.on_started: Callable[[RunningJob], None] | None = None
        self.on_stalled: Callable[[str, int], None] | None = None
        """Told how many jobs of a queue the stalled check moved back."""

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
                    running = await self._next_job()
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
                if running is None:
                    self._slots.release()
                else:
                    task = asyncio.ensure_future(self._work(running))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            self._stopped.set()

    async def _next_job(self) -> RunningJob | None:
        """Take a waiting job (moveToActive): after a rate limit's wait if there is one, else
        blocking on the queue's marker until a job comes."""
        limited = self._limit_until - time.monotonic()
        if limited > 0:
            self._waiting = asyncio.ensure_future(asyncio.sleep(min(limited,
                                                                    _MAX_RATE_LIMIT_DELAY_S)))
            try:
                await self._waiting
            finally:
                self._waiting = None
            self._limit_until = 0.0
            return await self._move_to_active()
        running = await self._move_to_active()
        if running is not None or self._limit_until:
            return running
        self._waiting = asyncio.ensure_future(self._wait_for_marker())
        try:
            await self._waiting
        finally:
            self._waiting = None
        return await self._move_to_active()

    async def _wait_for_marker(self) -> None:
        if self._block_until:
            timeout = min(_MAX_BLOCK_S, max(0.001, (self._block_until - now_ms()) / 1000))
        else:
            timeout = _DRAIN_DELAY_S
        popped = await self._blocking.bzpopmin(self.keys.marker, timeout)
        self._block_until = int(float(popped[2])) if popped else 0

    def _new_token(self) -> str:
        self._token_seq += 1
        return f"{self._token_prefix}{self._token_seq}"

    def _worker_opts(self, token: str) -> dict[str, Any]:
        return calls.worker_opts(token, self._lock_ms, self._limiter, self._worker_name)

    async def _move_to_active(self) -> RunningJob | None:
        token = self._new_token()
        raw = await self._fast.run(*calls.move_to_active(self.keys, now_ms(),
                                                         self._worker_opts(token)))
        return self._take(next_job(raw), token)

    def _take(self, fetched: NextJob, token: str) -> RunningJob | None:
        """Own a fetched job: from here its lock is renewed until it is recorded."""
        if fetched.limit_until_ms > 0:  # a TTL: the queue's rate limit is reached
            self._limit_until = time.monotonic() + fetched.limit_until_ms / 1000
        if fetched.delay_until_ms:
            self._block_until = max(fetched.delay_until_ms, 0)
        if fetched.job is None:
            return None
        running = RunningJob(self.name, fetched.job, token)
        self._running.add(running)
        if self.on_started is not None:
            self.on_started(running)
        return running

    async def _work(self, running: RunningJob | None) -> None:
        """Run jobs in this slot: the one given, then any that recording it fetched."""
        try:
            while running is not None:
                if self._closing:  # fetched while closing: give it straight back, unrun
                    outcome: Outcome = HandedBack()
                else:
                    outcome = await self._outcome_of(running)
                running = await self._record_safely(running, outcome)
        finally:
            self._slots.release()

    async def _outcome_of(self, running: RunningJob) -> Outcome:
        job = running.job
        if job.repeat_job_key:
            await self._schedule_next(job)
        if job.deferred_failure:
            # A failure decided elsewhere (it stalled too often, a failParentOnFailure child
            # failed): end it without running it, as Node's worker does.
            return Failed(job.deferred_failure, retry=False,
                          stack=f"UnrecoverableError: {job.deferred_failure}")
        if job.attempts_started > 1:  # a retry, or a re-run after a stall or hand-back
            if await self._fast.call("EXISTS", names.cancel_key(self.name, job.id)):
                return Cancelled()  # cancelled while its last worker died: nobody else stops it
            if job.progress:  # this run starts from 0, for late joiners' snapshots too
                await self.send_progress(job.id, 0)
        spec = self._spec_for(job)
        if spec is None:
            return Failed(f"no handler for job name {job.name!r} on queue {self.name!r} "
                          f"(this worker has {', '.join(self.specs)})", retry=False)
        io = JobIO(progress=lambda value: self.send_progress(job.id, value),
                   output=lambda texts: self._append(job, "output", texts),
                   logs=lambda lines: self._append(job, "log", lines),
                   children=lambda: self._children_of(job.id))
        tm = job.opts.get("tm")
        with tracing.span(f"process {self.name}", tracing.CONSUMER,
                          parent=tm if isinstance(tm, str) else None,
                          attributes={"jobcast.job.id": job.id, "jobcast.job.name": job.name,
                                      "jobcast.job.attempt": job.attempts_made + 1}) as current:
            running.trace = tracing.metadata()
            outcome = await self._runner.run(spec, running, io)
            if isinstance(outcome, Failed):
                tracing.failed(current, outcome.reason)
        return outcome

    def _spec_for(self, job: JobRecord) -> JobSpec | None:
        spec = self.specs.get(job.name)
        if spec is None and len(self.specs) == 1:
            # One job on this queue: it gets every job, whatever name a producer gave it
            # (as a Node worker's processor does).
            spec = next(iter(self.specs.values()))
        return spec

    async def _schedule_next(self, job: JobRecord) -> None:
        """A job scheduler's iteration: add the next one now, before running this one."""
        try:
            (known,) = await self._fast.pipeline(is_scheduler(self.keys, job.repeat_job_key or ""))
            call = next_iteration(self.keys, job, now_ms()) if known == 1 else None
            if call is not None:
                await self._fast.run(*call)
        except Exception as err:  # the iteration fetched still runs; a stall check retries
            log.error("job %s %s: could not schedule its scheduler's next run: %s", self.name,
                      job.id, err)

    # -- recording ------------------------------------------------------------------------

    async def _record_safely(self, running: RunningJob, outcome: Outcome) -> RunningJob | None:
        """Record the outcome, retrying while Redis is briefly away or full (the lock is still
        renewed meanwhile); returns the next job the recording fetched, if any."""
        delay = 0.1
        deadline = time.monotonic() + self._lock_ms / 2000
        try:
            while True:
                try:
                    return await self.record(running, outcome)
                except (*REDIS_ERRORS, ResponseError) as err:
                    if isinstance(err, ResponseError) and not is_out_of_memory(err):
                        log.error("job %s %s: could not record its end: %s", self.name,
                                  running.id, err)
                        return None
                    if time.monotonic() > deadline:
                        log.warning("job %s %s: could not record its end (%s); the stalled check "
                                    "will run it again", self.name, running.id, err)
                        return None
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 1.0)
                except Exception as err:
                    log.error("job %s %s: could not record its end: %s", self.name, running.id,
                              err)
                    return None
        finally:
            self._running.discard(running)
            if self.on_finished is not None:
                self.on_finished(running, outcome)

    async def record(self, running: RunningJob, outcome: Outcome) -> RunningJob | None:
        """Write how the run ended; with fetch-next, returns the next job (already locked)."""
        job, token, keys = running.job, running.token, self.keys
        fetch_next = not self._closing
        worker = self._worker_opts(token)
        batch: list[calls.Call] = []
        commands: list[tuple[Any, ...]] = []
        if isinstance(outcome, Completed):
            if outcome.progress is not None:
                batch.append(calls.update_progress(
                    keys, job.id, orjson.dumps(outcome.progress.stored()).decode()))
            batch.append(calls.move_to_finished(keys, job.id, now_ms(), "completed",
                                                outcome.result_json, worker, fetch_next,
                                                self._finish(job, "completed"),
                                                fields={"tm": running.trace} if running.trace
                                                else None))
        elif isinstance(outcome, Cancelled):
            batch.append(calls.move_to_finished(
                keys, job.id, now_ms(), "failed", CANCELLED, worker, fetch_next,
                self._finish(job, "failed"), fields={STATE_FIELD: CANCELLED}))
        elif isinstance(outcome, HandedBack):
            fetch_next = False
            batch.append(calls.move_active_to_wait(keys, job.id, token))
        elif isinstance(outcome, Limited):
            # worker.rateLimit(ms) then back to the head of the queue, no attempt used.
            fetch_next = False
            commands = [calls.rate_limit(keys, outcome.delay_ms)]
            batch.append(calls.move_active_to_wait(keys, job.id, token))
        else:
            call, fetch_next = await self._failure_call(running, outcome, worker, fetch_next)
            batch.append(call)
        if commands:
            await self._fast.pipeline(*commands)
        reply = (await self._fast.run_many(batch))[-1]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(outcome, Limited):
            ttl = reply if isinstance(reply, int) and reply > 0 else outcome.delay_ms
            self._limit_until = time.monotonic() + ttl / 1000
            return None
        if isinstance(reply, int) and reply < 0:
            return await self._refused(running, outcome, reply)
        if fetch_next:
            return self._take(next_job(reply), token)
        return None

    async def _refused(self, running: RunningJob, outcome: Outcome,
                       code: int) -> RunningJob | None:
        """moveToFinished said no. Losing the job is only logged; a flow parent that cannot
        complete fails instead, as in Node (its children are pending or one failed)."""
        if code in _REFUSED or not isinstance(outcome, Completed):
            log.warning("job %s %s: not recorded, %s (code %d)", self.name, running.id,
                        _REFUSED.get(code, "BullMQ refused it"), code)
            return None
        if code == -9:
            failed = Failed(f"Cannot complete job {running.id} because it has at least one "
                            "failed child. moveToFinished", retry=False)
        else:
            failed = Failed(f"Job {running.id} has pending dependencies. moveToFinished")
        return await self.record(running, failed)

    async def _failure_call(self, running: RunningJob, failed: Failed, worker: dict[str, Any],
                            fetch_next: bool) -> tuple[calls.Call, bool]:
        """A failed attempt: retried (at once, or after its backoff) or the job fails."""
        job, keys, now = running.job, self.keys, now_ms()
        fields = {"failedReason": failed.reason, "stacktrace": _stacktrace(job, failed.stack)}
        if running.trace:
            fields["tm"] = running.trace
        attempts_made = job.attempts_made + 1
        delay = -1
        if failed.retry and attempts_made < job.attempts:
            try:
                delay = await backoff_delay(job, attempts_made, failed.reason, self._strategies)
            except LookupError as err:
                log.error("job %s %s: %s; failing it", self.name, job.id, err)
                fields["failedReason"] = f"{failed.reason} (and it cannot be retried: {err})"
        if delay < 0:
            return calls.move_to_finished(keys, job.id, now, "failed", fields["failedReason"],
                                          worker, fetch_next, self._finish(job, "failed"),
                                          fields=fields), fetch_next
        running.retried = True
        if delay > 0:
            return calls.move_to_delayed(keys, job.id, running.token, now, delay, fields,
                                         fetch=worker if fetch_next else None), fetch_next
        return calls.retry_job(keys, job.id, running.token, now, bool(job.opts.get("lifo")),
                               fields), False

    def _finish(self, job: JobRecord, target: str) -> dict[str, Any]:
        return finish_opts(job, target, self._metrics)

    def send_progress(self, job_id: str, value: Progress | float) -> asyncio.Future[Any]:
        stored = value.stored() if isinstance(value, Progress) else value
        return self._fast.run_soon(*calls.update_progress(self.keys, job_id,
                                                          orjson.dumps(stored).decode()))

    async def _append(self, job: JobRecord, kind: str, entries: list[str]) -> str | None:
        """Store output chunks or log lines (announced on the stream); when one of the job's
        bounds stopped them, which one ("more than N bytes of output ..."), else None."""
        s = self.settings
        keep = job.opts.get("kl") or job.opts.get("keepLogs") if kind == "log" else 0
        reply = await self._fast.run(*append_call(
            self.keys, job.id, kind, entries, keep=keep if isinstance(keep, int) else 0,
            ttl_s=s.keep_age_s, max_bytes=s.output_max_bytes, max_entries=s.output_max_entries))
        if not (isinstance(reply, list) and reply and reply[0] == -2):
            return None  # written (or the job is gone: nothing to write to)
        what = "output" if kind == "output" else "log"
        bound = (f"more than {s.output_max_bytes} bytes of {what} (JOBCAST_OUTPUT_MAX_BYTES)"
                 if reply[3] == "bytes" else
                 f"more than {s.output_max_entries} {what} entries (JOBCAST_OUTPUT_MAX_ENTRIES)")
        if kind == "output" and s.output_overflow == "truncate":
            await self._fast.run(*append_call(self.keys, job.id, kind,
                                              [f"\n[output truncated: the job wrote {bound}]\n"],
                                              ttl_s=s.keep_age_s))
        log.warning("job %s %s wrote %s", self.name, job.id, bound)
        return bound

    async def _children_of(self, job_id: str) -> tuple[dict[str, Any], dict[str, str]]:
        """A flow parent's children: their results (``:processed``) and the failures it was told
        to ignore (``:failed``), keyed by child job key."""
        processed, ignored = await self._fast.pipeline(
            ("HGETALL", self.keys.processed(job_id)), ("HGETALL", f"{self.keys.job(job_id)}:failed"))
        for reply in (processed, ignored):
            if isinstance(reply, Exception):
                raise reply
        values = {k: decode_json(v) for k, v in zip(processed[::2], processed[1::2], strict=True)}
        failures = dict(zip(ignored[::2], ignored[1::2], strict=True))
        return values, failures

    # -- locks and stalls -----------------------------------------------------------------

    async def _renew_locks(self) -> None:
        """Keep the locks of running jobs fresh (BullMQ declares a job stalled without)."""
        while True:
            await asyncio.sleep(self._lock_ms / 2000)
            mine = self._running.of_queue(self.name)
            if not mine:
                continue
            try:
                failed = await self._fast.run(*calls.extend_locks(
                    self.keys, [r.id for r in mine], [r.token for r in mine], self._lock_ms))
            except REDIS_FAULTS as err:
                log.warning("queue %s: lock renewal failed (%s); retrying", self.name, err)
                continue
            lost = set(failed or [])
            for running in mine:
                if running.id in lost and self._running.holds(running):
                    # Still ours and running (not just finished): another worker may
                    # take it over when the stalled check runs.
                    log.warning("job %s %s: its lock could not be renewed", self.name, running.id)

    async def _check_stalled(self) -> None:
        """Put back jobs whose worker died (their lock expired), as every BullMQ worker does;
        one that stalled more than max_stalled_count times gets a deferred failure instead."""
        s = self.settings
        while True:
            try:
                stalled = await self._fast.run(*calls.move_stalled_to_wait(
                    self.keys, s.max_stalled_count, now_ms(), s.stalled_interval_ms))
                if stalled and self.on_stalled is not None:
                    self.on_stalled(self.name, len(stalled))
                for job_id in stalled or []:
                    log.warning("job %s %s stalled (its worker stopped renewing the lock)",
                                self.name, job_id)
            except REDIS_FAULTS as err:
                log.warning("queue %s: stalled check failed (%s)", self.name, err)
            await asyncio.sleep(s.stalled_interval_ms / 1000)

    # -- shutdown -------------------------------------------------------------------------

    async def close(self) -> None:
        """Take no new jobs; return when the running ones are recorded (finished or handed
        back) and the fetch loop has stopped (a job it was fetching is handed back too)."""
        self._closing = True
        if self._waiting is not None:
            self._waiting.cancel()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._stopped.wait()


def _stacktrace(job: JobRecord, stack: str) -> str:
    """The job's stacktrace field: earlier attempts' stacks plus this one (all of them, as Node
    keeps them unless the job's ``stackTraceLimit`` says otherwise)."""
    earlier = decode_json(job.fields.get("stacktrace") or "[]")
    stacks = [s for s in (earlier if isinstance(earlier, list) else []) if isinstance(s, str)]
    if stack:
        stacks.append(stack)
    limit = job.opts.get("stackTraceLimit")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        stacks = stacks[-limit:] if limit else []
    return orjson.dumps(stacks).decode()

"""Runs one job's handler and says how it ended, as an Outcome: context, progress, timeout,
cancel, hand-back and clean failure reasons, for async, thread and cpu_bound handlers alike."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..context import JobContext, JobInfo
from ..errors import InvalidInput, JobCancelled, JobFailed, RateLimited
from ..output import StreamWriter
from ..output.writer import Append
from ..registry import JobSpec
from ..settings import Settings
from .child import run_in_child
from .links import Children, LoopLinks, ThreadLinks
from .outcome import Cancelled, Completed, Failed, HandedBack, Limited, Outcome
from .progress import Progress, ProgressCoalescer
from .result import ResultError, serialise_result
from .running import RunningJob
from .stacks import handler_stack, user_reason
from .threads import HandlerThreads

log = logging.getLogger("jobcast.worker")

@dataclass(frozen=True)
class JobIO:
    """What a run needs of Redis, bound to its job by the consumer."""

    progress: Callable[[Progress], Awaitable[None]]
    output: Append
    logs: Append
    children: Children


class Runner:
    """Example usage::

        outcome = await runner.run(spec, running, io)
    """

    def __init__(self, settings: Settings, threads: HandlerThreads) -> None:
        self.settings = settings
        self.threads = threads
        self._interval = settings.progress_interval_ms / 1000
        self._results = settings.results_path
        self._output_interval = settings.output_interval_ms / 1000

    async def run(self, spec: JobSpec, running: RunningJob, io: JobIO) -> Outcome:
        """Run the handler once; never raises, except when this worker itself is torn down."""
        output = StreamWriter(io.output, self._output_interval, join=True)
        logs = StreamWriter(io.logs, self._output_interval, join=False)
        if self.settings.output_overflow == "fail":
            output.on_overflow = lambda bound: running.fail_now(f"the job wrote {bound}")
        links = LoopLinks(output, logs, io.children)
        outcome = await self._run(spec, running, io, links)
        await links.drain()  # its output and log are whole before its end is recorded
        return outcome

    async def _run(self, spec: JobSpec, running: RunningJob, io: JobIO,
                   links: LoopLinks) -> Outcome:
        job = running.job
        info = JobInfo(job.id, spec.name, job.attempts_made + 1, self._results,
                       attempts_started=job.attempts_started)
        coalescer = ProgressCoalescer(io.progress, self._interval)
        task = asyncio.ensure_future(self._invoke(spec, running, info, coalescer, links))
        running.task = task
        try:
            try:
                async with asyncio.timeout(spec.timeout) as deadline:
                    # shield: the deadline must not cancel the handler behind our back; the
                    # except clause stops it and waits, so a child process is really gone.
                    outcome = await asyncio.shield(task)
            except TimeoutError:
                if not deadline.expired():
                    raise  # the handler's own TimeoutError: an ordinary failure, below
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return Failed(f"timed out after {spec.timeout:g} s")
            if isinstance(outcome, Completed):
                size, limit = len(outcome.result_json), self.settings.max_result_bytes
                if size > limit:
                    return Failed(f"the job's result is {size} bytes of JSON, over the limit of "
                                  f"{limit} (JOBCAST_MAX_RESULT_BYTES); write large results to "
                                  "ctx.result_path() instead", retry=False)
                outcome = Completed(outcome.result_json, await coalescer.finish())
            return outcome
        except asyncio.CancelledError:
            if running.failure is not None:
                return Failed(running.failure, retry=False)
            if running.hand_back_requested:
                return HandedBack()
            if running.cancel_requested:
                return Cancelled()
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this worker itself is being torn down
            return Failed("the job was cancelled from inside its handler")
        except JobCancelled:
            return Cancelled()
        except JobFailed as err:
            return Failed(str(err), retry=err.retry,
                          stack="" if err.retry else f"UnrecoverableError: {err}")
        except RateLimited as err:
            return Limited(err.delay_ms)
        except (InvalidInput, ResultError) as err:
            reason = str(err) if isinstance(err, ResultError) else \
                f"the job's data does not fit its input model: {err.details}"
            return Failed(reason, retry=False)  # the next attempt would fail the same way
        except Exception as err:
            stack = handler_stack(err)
            log.error("job %s %s failed:\n%s", spec.name, job.id, stack)
            return Failed(user_reason(err), stack=stack)
        finally:
            coalescer.discard()  # nothing more goes out for an ended job (no-op after finish)
            if not task.done():
                task.cancel()

    async def _invoke(self, spec: JobSpec, running: RunningJob, info: JobInfo,
                      coalescer: ProgressCoalescer, links: LoopLinks) -> Outcome:
        if spec.cpu_bound:
            children, failed = await links.children_values(), await links.failed_children()
            info = dataclasses.replace(info, children=children, failed_children=failed)
            outcome = await run_in_child(spec, running.job.data_json, info, coalescer.report,
                                         links.write, links.log, self._interval)
            if isinstance(outcome, Failed) and outcome.stack:
                log.error("job %s %s failed:\n%s", spec.name, info.job_id, outcome.stack)
            return outcome
        data = spec.parse_json(running.job.data_json)

        def cancelled() -> bool:
            return running.cancel_requested

        if spec.is_async:
            ctx = JobContext(info, coalescer.report, cancelled, links)
            result = await spec.handler(ctx, data)
        else:
            loop = asyncio.get_running_loop()

            def report(value: float, message: str | None) -> None:  # hops from the thread
                loop.call_soon_threadsafe(coalescer.report, value, message)

            ctx = JobContext(info, report, cancelled, ThreadLinks(loop, links))
            result = await self.threads.run(spec.handler, ctx, data)
        return Completed(serialise_result(result))

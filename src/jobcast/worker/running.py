"""The jobs this worker process runs now: one owner of that set, for everyone who needs it
(lock renewal, cancels, shutdown, the heartbeat)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .._bullmq import JobRecord


@dataclass(eq=False)
class RunningJob:
    """A job fetched by this process, from the moment its lock is taken until it is recorded."""

    queue: str
    job: JobRecord
    token: str
    started: float = field(default_factory=time.monotonic)
    task: asyncio.Task[Any] | None = None
    cancel_requested: bool = False
    hand_back_requested: bool = False
    failure: str | None = None
    """Set when the worker itself must fail the job now (its output passed the bound)."""
    trace: str | None = None
    """The worker's trace context for this run (written with its end, as BullMQ does)."""
    retried: bool = False
    """Its failed attempt was recorded as one to run again (for the metrics)."""

    @property
    def id(self) -> str:
        return self.job.id

    def cancel(self) -> None:
        """Stop it as cancelled; a handler can also see it through ``ctx.cancelled``."""
        self.cancel_requested = True
        if self.task is not None:
            self.task.cancel()

    def fail_now(self, reason: str) -> None:
        self.failure = reason
        if self.task is not None:
            self.task.cancel()

    def hand_back(self) -> None:
        self.hand_back_requested = True
        if self.task is not None:
            self.task.cancel()


class RunningJobs:
    """Keyed by (queue, job id): ids are unique per queue, not across queues."""

    def __init__(self) -> None:
        self._jobs: dict[tuple[str, str], RunningJob] = {}

    def add(self, running: RunningJob) -> None:
        self._jobs[(running.queue, running.id)] = running

    def discard(self, running: RunningJob) -> None:
        if self._jobs.get((running.queue, running.id)) is running:
            del self._jobs[(running.queue, running.id)]

    def get(self, queue: str, job_id: str) -> RunningJob | None:
        return self._jobs.get((queue, job_id))

    def holds(self, running: RunningJob) -> bool:
        return self._jobs.get((running.queue, running.id)) is running

    def of_queue(self, queue: str) -> list[RunningJob]:
        return [r for (q, _), r in self._jobs.items() if q == queue]

    def __iter__(self) -> Iterator[RunningJob]:
        return iter(list(self._jobs.values()))

    def __len__(self) -> int:
        return len(self._jobs)

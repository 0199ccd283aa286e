"""JobContext: what a job handler gets besides its input."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .ids import is_file_safe

MAX_MESSAGE = 500
"""A progress message longer than this is cut (it is shown on a progress bar)."""


def checked_percent(value: object) -> float:
    """A progress value as a float in 0..100, or a TypeError/ValueError that says why."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"progress must be a number from 0 to 100, not {type(value).__name__}")
    if math.isnan(value):
        raise ValueError("progress must be a number from 0 to 100, not NaN")
    number = min(100.0, max(0.0, float(value)))
    return int(number) if number.is_integer() else round(number, 2)


@dataclass(frozen=True)
class JobInfo:
    """The plain facts about a running job; picklable, so a child process gets them too."""

    job_id: str
    name: str
    attempt: int
    results_dir: Path
    attempts_started: int = 1
    children: dict[str, Any] | None = field(default=None, compare=False)
    """A cpu_bound parent's children's results, read before it starts (it has no Redis)."""
    failed_children: dict[str, str] | None = field(default=None, compare=False)


class JobLinks(Protocol):
    """What reaches back to the worker from a handler, however it runs (loop, thread, child)."""

    def write(self, text: str) -> None: ...

    def log(self, line: str) -> None: ...

    def children_values(self) -> Any: ...

    def failed_children(self) -> Any: ...


class _NoLinks:
    def write(self, text: str) -> None:
        pass

    def log(self, line: str) -> None:
        pass

    def children_values(self) -> Any:
        return {}

    def failed_children(self) -> Any:
        return {}


class JobContext:
    """Passed to every handler as its first argument.

    Example usage::

        @jobs.job("bulk", input=BulkIn)
        async def bulk(ctx: JobContext, data: BulkIn) -> dict:
            for i in range(data.items):
                if ctx.cancelled:
                    break
                ctx.progress(100 * (i + 1) / data.items)
            return {"items": data.items}
    """

    def __init__(
        self,
        info: JobInfo,
        report: Callable[[float, str | None], None],
        is_cancelled: Callable[[], bool] = lambda: False,
        links: JobLinks | None = None,
    ) -> None:
        self._info = info
        self._report = report
        self._is_cancelled = is_cancelled
        self._links: JobLinks = links or _NoLinks()

    @property
    def job_id(self) -> str:
        return self._info.job_id

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def attempt(self) -> int:
        """1 for the first run, 2 for the first retry, and so on."""
        return self._info.attempt

    @property
    def attempts_started(self) -> int:
        """How often a worker has started this job (BullMQ's ``attemptsStarted``): rate limits and
        stalls start it again without using an attempt."""
        return self._info.attempts_started

    @property
    def cancelled(self) -> bool:
        """True once someone cancelled the job; a cooperative handler stops when it sees it."""
        return self._is_cancelled()

    def progress(self, percent: float, message: str | None = None) -> None:
        """Report progress (0-100), with an optional message ("page 3 of 8: charts"). Cheap to
        call often: updates are coalesced, never lower; the time left is worked out for you."""
        if message is not None:
            message = str(message)[:MAX_MESSAGE]
        self._report(checked_percent(percent), message)

    def write(self, text: str) -> None:
        """Append to the job's output (an LLM's tokens, a transcript's lines...). Cheap to call
        per token: writes are batched; every subscriber gets all of it, in order, once."""
        if not isinstance(text, str):
            raise TypeError(f"write() takes text, not {type(text).__name__}")
        self._links.write(text)

    async def write_all(self, chunks: Iterable[str] | AsyncIterable[str]) -> int:
        """Pipe a generator (sync or async) into the output; returns how many chunks."""
        count = 0
        if isinstance(chunks, AsyncIterable):
            async for chunk in chunks:
                self.write(chunk)
                count += 1
        else:
            for chunk in chunks:
                self.write(chunk)
                count += 1
                if count % 256 == 0:
                    await asyncio.sleep(0)  # a long sync iterator lets the worker breathe
        return count

    def log(self, line: str) -> None:
        """Add a line to the job's log (BullMQ's job log: Bull Board's Logs tab shows it)."""
        self._links.log(str(line))

    def children_values(self) -> Any:
        """A flow parent's children's results, by child key (``bull:<queue>:<id>``), as Node's
        ``job.getChildrenValues()``. ``await`` it in an async handler; a thread or cpu_bound
        handler gets the dict itself."""
        return self._links.children_values()

    def failed_children(self) -> Any:
        """The reasons of children that failed with ``ignoreDependencyOnFailure`` (Node's
        ``job.getIgnoredChildrenFailures()``); awaitable as children_values()."""
        return self._links.failed_children()

    def result_path(self, suffix: str) -> Path:
        """Where to write this job's result file, e.g. ``ctx.result_path(".pdf")``.

        The web tier serves it at ``/api/jobs/<id>/result``.
        """
        if not suffix.startswith(".") or "/" in suffix or "\\" in suffix or len(suffix) > 16:
            raise ValueError(f"a result suffix looks like '.pdf', not {suffix!r}")
        if not is_file_safe(self.job_id):
            raise ValueError(f"job id {self.job_id!r} cannot name a file; result files need ids "
                             "of letters, digits, '_' and '-' (jobcast's own ids are)")
        self._info.results_dir.mkdir(parents=True, exist_ok=True)
        return self._info.results_dir / f"{self.job_id}{suffix}"

"""The job registry: which jobs exist, their input models and how they run.

Example usage::

    jobs = Jobs()

    @jobs.job("report", input=ReportIn, cpu_bound=True, attempts=1, timeout=600)
    def build_report(ctx: JobContext, data: ReportIn) -> dict: ...

Everything about a job is checked when it is registered, so a wrong handler fails at
start-up, not when the first job arrives.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from ._bullmq.options import BackoffStrategy
from .errors import ConfigError, InvalidInput, UnknownJob

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
Handler = TypeVar("Handler", bound=Callable[..., Any])
StrategyT = TypeVar("StrategyT", bound=Callable[..., Any])


@dataclass(frozen=True)
class JobSpec:
    """One registered job: its handler and how the worker runs it."""

    name: str
    handler: Callable[..., Any]
    input: type[BaseModel] | None
    cpu_bound: bool
    attempts: int
    backoff_ms: int
    timeout: float | None
    concurrency: int | None
    queue: str
    """The BullMQ queue it travels on (its own name unless several jobs share one)."""
    strict: bool = True
    """Validate input strictly: no coercion ("3" is not 3) and no unknown fields."""
    limiter: tuple[int, int] | None = None
    """At most ``max`` jobs of this queue start per ``duration_ms`` (BullMQ's worker limiter)."""

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.handler)

    @property
    def runs_in(self) -> str:
        """Where the handler runs: "process" (cpu_bound), "loop" (async def) or "thread"."""
        return "process" if self.cpu_bound else "loop" if self.is_async else "thread"

    def parse_json(self, raw: bytes | str) -> Any:
        """Validate JSON text (a request body, or stored job data) into what the handler gets."""
        if self.input is None:
            try:
                payload = orjson.loads(raw)
            except orjson.JSONDecodeError as err:
                raise InvalidInput([{"field": "", "message": f"malformed JSON: {err}"}]) from None
            if not isinstance(payload, dict):
                raise InvalidInput([{"field": "", "message": "expected a JSON object"}])
            return payload
        try:
            return _validator(self.input, self.strict).model_validate_json(raw)
        except ValidationError as err:
            raise InvalidInput([
                {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in err.errors(include_url=False)
            ]) from None

    def parse(self, payload: Any) -> Any:
        """Validate an already decoded value (JSON-compatible) the same way."""
        return self.parse_json(orjson.dumps(payload))

    def dump(self, parsed: Any) -> str:
        """What is stored in Redis as the job's data: JSON text."""
        if isinstance(parsed, BaseModel):
            return parsed.model_dump_json()
        return orjson.dumps(parsed).decode()


def _validator(model: type[BaseModel], strict: bool) -> type[BaseModel]:
    """The model to validate with: the app's own, or a strict subclass of it (no coercion, no
    unknown fields) unless the model chose its own ``strict``/``extra`` behaviour."""
    if not strict:
        return model
    cached = _STRICT.get(model)
    if cached is None:
        config = ConfigDict(**model.model_config)  # type: ignore[typeddict-item]
        config.setdefault("strict", True)
        config.setdefault("extra", "forbid")
        cached = type(model.__name__, (model,), {"model_config": config,
                                                  "__module__": model.__module__})
        _STRICT[model] = cached
    return cached


_STRICT: dict[type[BaseModel], type[BaseModel]] = {}


class Jobs:
    """An application's set of jobs. Web and worker load the same one."""

    def __init__(self) -> None:
        self._specs: dict[str, JobSpec] = {}
        self.backoff_strategies: dict[str, BackoffStrategy] = {}

    def backoff(self, kind: str) -> Callable[[StrategyT], StrategyT]:
        """Register a custom backoff strategy for jobs whose ``backoff.type`` is ``kind``
        (``"*"``: any type without its own), as a Node worker's ``settings.backoffStrategy``.

        Example usage::

            @jobs.backoff("linear")
            def linear(attempts_made: int, kind: str, reason: str, job: JobRecord) -> int:
                return attempts_made * 1000      # ms; -1 fails the job now, 0 retries at once
        """

        def register(strategy: StrategyT) -> StrategyT:
            if not callable(strategy):
                raise ConfigError(f"backoff strategy {kind!r}: not callable")
            self.backoff_strategies[kind] = strategy
            return strategy

        return register

    def job(
        self,
        name: str,
        *,
        input: type[BaseModel] | None = None,
        cpu_bound: bool = False,
        attempts: int = 1,
        backoff_ms: int = 1000,
        timeout: float | None = None,
        concurrency: int | None = None,
        queue: str | None = None,
        strict: bool = True,
        limiter: tuple[int, int] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register ``handler(ctx, data)`` as the job ``name``; returns the handler unchanged.

        ``queue`` puts several jobs on one BullMQ queue (the worker routes them by name);
        ``strict=False`` lets pydantic coerce input ("3" → 3) and ignore unknown fields;
        ``limiter=(max, duration_ms)`` starts at most ``max`` of the queue's jobs per duration.
        """

        def register(handler: Handler) -> Handler:
            spec = JobSpec(name, handler, input, cpu_bound, attempts, backoff_ms, timeout,
                           concurrency, queue or name, strict,
                           tuple(limiter) if limiter else None)  # type: ignore[arg-type]
            self._specs[name] = _checked_spec(spec, taken=self._specs)
            return handler

        return register

    def __getitem__(self, name: str) -> JobSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownJob(name, self.names()) from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[JobSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        return list(self._specs)

    def queues(self) -> dict[str, list[JobSpec]]:
        """Each BullMQ queue with the jobs that travel on it."""
        grouped: dict[str, list[JobSpec]] = {}
        for spec in self._specs.values():
            grouped.setdefault(spec.queue, []).append(spec)
        return grouped

    def only(self, names: list[str]) -> Jobs:
        """A registry with just these jobs (``jobcast worker --only``)."""
        subset = Jobs()
        subset.backoff_strategies = dict(self.backoff_strategies)
        for name in names:
            subset._specs[name] = self[name]
        return subset


def _checked_spec(spec: JobSpec, taken: dict[str, JobSpec]) -> JobSpec:
    where = f"job {spec.name!r}"
    if not isinstance(spec.name, str) or not _NAME.fullmatch(spec.name):
        raise ConfigError(f"{where}: a name is 1-64 of a-z, 0-9, '_' or '-', starting with a letter")
    if spec.name in taken:
        raise ConfigError(f"{where} is registered twice")
    if not isinstance(spec.queue, str) or not _NAME.fullmatch(spec.queue):
        raise ConfigError(f"{where}: queue names follow the same rule as job names")
    if not callable(spec.handler):
        raise ConfigError(f"{where}: the handler is not callable")
    params = [
        p
        for p in inspect.signature(spec.handler).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) != 2:
        raise ConfigError(f"{where}: the handler must take exactly (ctx, data)")
    if spec.input is not None and not (
        isinstance(spec.input, type) and issubclass(spec.input, BaseModel)
    ):
        raise ConfigError(f"{where}: input must be a pydantic BaseModel subclass or None")
    if spec.cpu_bound and spec.is_async:
        raise ConfigError(f"{where}: a cpu_bound handler must be a plain def, not async def")
    if spec.cpu_bound and "<locals>" in spec.handler.__qualname__:
        raise ConfigError(
            f"{where}: a cpu_bound handler runs in a child process, so it must be defined "
            "at module level (importable by name)"
        )
    if not isinstance(spec.attempts, int) or spec.attempts < 1:
        raise ConfigError(f"{where}: attempts must be an int >= 1")
    if spec.backoff_ms < 0:
        raise ConfigError(f"{where}: backoff_ms must be >= 0")
    if spec.timeout is not None and spec.timeout <= 0:
        raise ConfigError(f"{where}: timeout must be > 0 seconds (or None)")
    if spec.concurrency is not None and spec.concurrency < 1:
        raise ConfigError(f"{where}: concurrency must be >= 1 (or None)")
    if spec.limiter is not None and (len(spec.limiter) != 2 or min(spec.limiter) < 1):
        raise ConfigError(f"{where}: limiter is (max jobs, per duration in ms), both >= 1")
    for other in taken.values():
        if other.queue == spec.queue and other.limiter != spec.limiter:
            raise ConfigError(f"{where}: queue {spec.queue!r} has the limiter {other.limiter} "
                              f"(from {other.name!r}); jobs sharing a queue share its limiter")
        if other.queue == spec.queue and other.runs_in != spec.runs_in:
            raise ConfigError(f"{where}: queue {spec.queue!r} already carries {other.name!r}, "
                              f"which runs in a {other.runs_in}; jobs sharing a queue must run "
                              "alike (all async, all threads, or all cpu_bound)")
    return spec


def load_jobs(ref: str, app_dir: str | Path | None = ".") -> Jobs:
    """Import ``module:attribute`` and return the Jobs registry it names.

    ``app_dir`` (the current directory by default, as uvicorn's ``--app-dir``) is put on
    ``sys.path`` first, so ``myapp.jobs:jobs`` imports from where the command runs.
    """
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"jobs {ref!r}: expected 'module:attribute', e.g. 'myapp.jobs:jobs'")
    if app_dir is not None:
        path = str(Path(app_dir).resolve())
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"jobs {ref!r}: cannot import {module_name!r}: {err}") from err
    if not hasattr(module, attr):
        found = sorted(n for n, v in vars(module).items() if isinstance(v, Jobs))
        hint = f"; it has {', '.join(found)}" if found else ""
        raise ConfigError(f"jobs {ref!r}: module {module_name!r} has no attribute {attr!r}{hint}")
    jobs = getattr(module, attr)
    if not isinstance(jobs, Jobs):
        raise ConfigError(f"jobs {ref!r}: {attr!r} is a {type(jobs).__name__}, "
                          "not a jobcast.Jobs registry")
    if not len(jobs):
        raise ConfigError(f"jobs {ref!r}: the registry has no jobs")
    return jobs

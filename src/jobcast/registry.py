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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import ConfigError, InvalidInput, UnknownJobType

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
Handler = TypeVar("Handler", bound=Callable[..., Any])


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

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.handler)

    def parse(self, payload: Any) -> Any:
        """Validate a request body (or stored job data) into what the handler receives."""
        if self.input is None:
            if not isinstance(payload, dict):
                raise InvalidInput([{"field": "", "message": "expected a JSON object"}])
            return payload
        try:
            return self.input.model_validate(payload)
        except ValidationError as err:
            raise InvalidInput(
                [
                    {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                    for e in err.errors(include_url=False)
                ]
            ) from None

    def dump(self, parsed: Any) -> dict[str, Any]:
        """What is stored in Redis as the job's data: plain JSON."""
        if isinstance(parsed, BaseModel):
            return parsed.model_dump(mode="json")
        return dict(parsed)


class Jobs:
    """An application's set of jobs. Web and worker load the same one."""

    def __init__(self) -> None:
        self._specs: dict[str, JobSpec] = {}

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
    ) -> Callable[[Handler], Handler]:
        """Register ``handler(ctx, data)`` as the job ``name``; returns the handler unchanged."""

        def register(handler: Handler) -> Handler:
            self._specs[name] = _checked_spec(
                JobSpec(name, handler, input, cpu_bound, attempts, backoff_ms, timeout, concurrency),
                taken=self._specs,
            )
            return handler

        return register

    def __getitem__(self, name: str) -> JobSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownJobType(name, self.names()) from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[JobSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        return list(self._specs)

    def only(self, names: list[str]) -> Jobs:
        """A registry with just these jobs (``jobcast worker --only``)."""
        subset = Jobs()
        for name in names:
            subset._specs[name] = self[name]
        return subset


def _checked_spec(spec: JobSpec, taken: dict[str, JobSpec]) -> JobSpec:
    where = f"job {spec.name!r}"
    if not isinstance(spec.name, str) or not _NAME.fullmatch(spec.name):
        raise ConfigError(f"{where}: a name is 1-64 of a-z, 0-9, '_' or '-', starting with a letter")
    if spec.name in taken:
        raise ConfigError(f"{where} is registered twice")
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
    return spec


def load_jobs(ref: str) -> Jobs:
    """Import ``module:attribute`` and return the Jobs registry it names."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"jobs {ref!r}: expected 'module:attribute', e.g. 'myapp.jobs:jobs'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"jobs {ref!r}: cannot import {module_name!r}: {err}") from err
    jobs = getattr(module, attr, None)
    if not isinstance(jobs, Jobs):
        raise ConfigError(f"jobs {ref!r}: {attr!r} is not a jobcast.Jobs registry")
    if not len(jobs):
        raise ConfigError(f"jobs {ref!r}: the registry has no jobs")
    return jobs

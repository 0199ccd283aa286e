"""OpenTelemetry traces (the ``otel`` extra): one trace per job, from ``POST /api/<job>`` through
the worker's handler to the socket emit of its end.

- web: ``POST /api/<job>`` (SERVER, continuing the caller's ``traceparent``) → ``add <queue>``
  (PRODUCER); the context goes into the job's ``opts.tm``, where BullMQ's own telemetry keeps it,
  so a Node BullMQ worker with bullmq-otel continues the same trace (and jobcast continues a
  Node producer's);
- worker: ``process <queue>`` (CONSUMER) around the handler, child of that context; its own
  context is written to the job hash's ``tm`` with the job's end (as BullMQ's moveToFailed does);
- web: ``emit <job>:<completed|failed>`` (PRODUCER), child of the worker's span, when the bridge
  sends the end to the sockets watching it.

Nothing happens unless the application configured an OpenTelemetry SDK tracer provider (without
one, or without the extra, every function here is a cheap no-op).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

try:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind, StatusCode
except ImportError:  # the otel extra is not installed
    trace = None  # type: ignore[assignment]

SERVER, PRODUCER, CONSUMER = ("server", "producer", "consumer")


_MISSING = object()
_PROVIDER_FROM_ENV = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
_seen_provider = False


def active() -> bool:
    """True when spans are really recorded (the app set a tracer provider).

    Called several times per request: asking the API each time reads the environment each
    time while no provider is set (3% of the web's CPU under load). A provider, once set,
    cannot be replaced, so a yes is remembered; a no is read off the API's global, when
    that exists as it does in every 1.x release."""
    global _seen_provider
    if _seen_provider:
        return True
    if trace is None:
        return False
    if getattr(trace, "_TRACER_PROVIDER", _MISSING) is None and not _PROVIDER_FROM_ENV:
        return False
    _seen_provider = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    return _seen_provider


@contextlib.contextmanager
def span(name: str, kind: str, *, parent: str | None = None,
         headers: Mapping[str, str] | None = None,
         attributes: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """A span, current for the block; its parent from ``parent`` (a context as ``metadata()``
    wrote it) or from HTTP ``headers`` (``traceparent``). Yields None when not tracing."""
    if not active():
        yield None
        return
    carrier: Mapping[str, str] | None = headers
    if parent:
        try:
            decoded = orjson.loads(parent)
            carrier = decoded if isinstance(decoded, dict) else None
        except orjson.JSONDecodeError:
            carrier = None
    parent_context = propagate.extract(carrier) if carrier is not None else None
    tracer = trace.get_tracer("jobcast")
    with tracer.start_as_current_span(name, context=parent_context, kind=_KINDS[kind],
                                      attributes=dict(attributes or {})) as current:
        yield current


def metadata() -> str | None:
    """The current context, to carry in a job (``{"traceparent": ...}`` as JSON)."""
    if not active():
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return orjson.dumps(carrier).decode() if carrier else None


def failed(current: Any, reason: str) -> None:
    if current is not None:
        current.set_status(StatusCode.ERROR, reason)


def answered(current: Any, status_code: int) -> None:
    if current is not None:
        current.set_attribute("http.response.status_code", status_code)
        if status_code >= 500:
            current.set_status(StatusCode.ERROR)


_KINDS: dict[str, Any] = ({SERVER: SpanKind.SERVER, PRODUCER: SpanKind.PRODUCER,
                           CONSUMER: SpanKind.CONSUMER} if trace is not None else {})

"""OpenTelemetry (the otel extra): one trace from POST /api/<job> through the worker's handler
to the socket emit of its end, checked with the SDK's in-memory exporter. The web (a real
uvicorn server) and the worker run in this process, so both report to the same provider; the
watcher is a real Socket.IO client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from jobcast import Settings, create_app, load_jobs
from jobcast.cli.embedded import free_port
from support import RedisServer, Watcher, wait_state

sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra is not installed")
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

DB = 6


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider can be set once: this module's, with an in-memory exporter."""
    memory = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)
    yield memory


@pytest.fixture
async def served(redis_server: RedisServer, exporter: InMemorySpanExporter,
                 tmp_path: Any) -> AsyncIterator[str]:
    from jobcast.worker import JobWorker

    with redis_server.client(db=DB) as db:
        db.flushdb()
    settings = Settings(redis_url=redis_server.url.replace("/0", f"/{DB}"),
                        results_dir=tmp_path, shutdown_grace_s=1)
    jobs = load_jobs("sample_jobs:jobs")
    app = create_app(jobs, settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    serving = asyncio.ensure_future(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    stop = asyncio.Event()
    worker = asyncio.ensure_future(JobWorker(jobs.only(["bulk", "boom"]), settings).run(stop))
    exporter.clear()
    yield f"http://127.0.0.1:{port}"
    stop.set()
    await worker
    server.should_exit = True
    await serving


async def test_one_trace_from_the_request_through_the_handler_to_the_emit(
        served: str, exporter: InMemorySpanExporter) -> None:
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"  # the client's trace
    watcher = await Watcher(served).connect()
    try:
        async with httpx.AsyncClient(base_url=served, timeout=10) as http:
            response = await http.post("/api/bulk", json={"items": 3},
                                       headers={"traceparent": caller})
            job_id = response.json()["jobId"]
            assert (await watcher.join(job_id))["ok"]
            await watcher.wait_terminal(job_id)
            await wait_state(http, job_id, "completed")
    finally:
        await watcher.close()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    request, add = spans["POST /api/bulk"], spans["add bulk"]
    process, emit = spans["process bulk"], spans["emit bulk:completed"]
    trace_id = int("0af7651916cd43dd8448eb211c80319c", 16)
    for span in (request, add, process, emit):
        assert span.context.trace_id == trace_id, span.name  # one trace, the caller's
    assert request.parent.span_id == int("b7ad6b7169203331", 16)
    assert add.parent.span_id == request.context.span_id
    assert process.parent.span_id == add.context.span_id
    assert emit.parent.span_id == process.context.span_id
    assert process.attributes["jobcast.job.id"] == job_id
    assert request.attributes["http.response.status_code"] == 202
    assert process.kind == trace.SpanKind.CONSUMER and add.kind == trace.SpanKind.PRODUCER


async def test_a_failed_job_is_an_error_span_and_a_refused_request_adds_none(
        served: str, exporter: InMemorySpanExporter) -> None:
    async with httpx.AsyncClient(base_url=served, timeout=10) as http:
        job_id = (await http.post("/api/boom", json={"message": "no luck"})).json()["jobId"]
        await wait_state(http, job_id, "failed")
        assert (await http.post("/api/bulk", json={"items": 0})).status_code == 422
    spans = exporter.get_finished_spans()
    process = next(s for s in spans if s.name == "process boom")
    assert process.status.status_code == trace.StatusCode.ERROR
    assert process.status.description == "no luck"
    refused = [s for s in spans if s.name == "POST /api/bulk"]
    assert refused[-1].attributes["http.response.status_code"] == 422
    assert not [s for s in spans if s.name == "add bulk"]  # nothing was added

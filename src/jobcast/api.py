"""HTTP routes: enqueue, status, cancel, result files, health.

The request path only validates and enqueues; it never runs job code. Errors are JSON
``{"error": ..., ...}`` with the status codes of DESIGN.md's contract.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .access import Access, AccessPolicy, Client
from .enqueue import UNAVAILABLE, Enqueuer, read_body
from .errors import QueueUnavailable
from .ids import is_job_id
from .queue import JobQueue
from .redis_client import REDIS_ERRORS
from .settings import Settings
from .status import JobState, JobStatus


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error(status: int, message: str, **extra: Any) -> ORJSONResponse:
    return ORJSONResponse({"error": message, **extra}, status_code=status)


def build_api(
    queue: JobQueue,
    settings: Settings,
    policy: AccessPolicy,
    enqueuer: Enqueuer,
    stats: Callable[[], dict[str, Any]] = dict,
) -> FastAPI:
    api = FastAPI(
        title="jobcast",
        version="0.1.0",
        summary="Enqueue heavy jobs, follow their progress, fetch their results.",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        default_response_class=ORJSONResponse,
        redirect_slashes=False,
    )

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return error(exc.status_code, str(exc.detail))

    @api.exception_handler(QueueUnavailable)
    async def unavailable(_: Request, exc: QueueUnavailable) -> Response:
        status, content, headers = UNAVAILABLE
        return ORJSONResponse(content, status_code=status, headers=headers)

    def client_of(request: Request) -> Client:
        address = request.client.host if request.client else None
        return Client.from_asgi(request.headers, address)

    async def visible_status(request: Request, job_id: str, action: Any) -> JobStatus | None:
        status = await queue.status(job_id) if is_job_id(job_id) else None
        if status is None:
            return None
        if not await policy.permits(Access(action, status.job, job_id, client_of(request)),
                                    status.owner):
            return None
        return status

    async def enqueue(request: Request, job: str) -> Response:
        body = await read_body(request.receive, settings.max_body_bytes)
        status, content, headers = await enqueuer.handle(
            job, request.headers.get("content-type", ""), body, client_of(request))
        return ORJSONResponse(content, status_code=status, headers=headers)

    for spec in queue.jobs:
        schema = spec.input.model_json_schema() if spec.input else {"type": "object"}
        api.add_api_route(
            f"/api/{spec.name}",
            _bind(enqueue, spec.name),
            methods=["POST"],
            status_code=202,
            summary=f"Start a {spec.name} job",
            tags=["jobs"],
            openapi_extra={
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": schema}}},
                "responses": _responses(202, 400, 401, 403, 404, 413, 415, 422, 429, 503),
            },
        )

    @api.post("/api/{job}", include_in_schema=False)
    async def enqueue_unknown(job: str, request: Request) -> Response:
        return await enqueue(request, job)

    @api.get("/api/jobs/{job_id}", tags=["jobs"], summary="A job's status (the polling fallback)",
             responses=_responses(200, 404, 503))
    async def get_status(job_id: str, request: Request) -> Response:
        status = await visible_status(request, job_id, "status")
        if status is None:
            return error(404, "unknown job")
        return ORJSONResponse((await queue.exact_state(status)).to_json())

    @api.delete("/api/jobs/{job_id}", tags=["jobs"], summary="Cancel a job",
                responses=_responses(200, 404, 503))
    async def cancel(job_id: str, request: Request) -> Response:
        status = await visible_status(request, job_id, "cancel")
        if status is None:
            return error(404, "unknown job")
        status = await queue.cancel(job_id)
        return ORJSONResponse(status.to_json() if status else {"jobId": job_id})

    @api.get("/api/jobs/{job_id}/result", tags=["jobs"], summary="A job's result file",
             responses=_responses(200, 404, 409, 503))
    async def result_file(job_id: str, request: Request) -> Response:
        status = await visible_status(request, job_id, "result")
        if status is None:
            return error(404, "unknown job")
        if status.state is not JobState.COMPLETED:
            if not status.state.is_terminal:
                return error(409, f"the job is {status.state.value}; its result is not ready")
            return error(404, f"the job {status.state.value}; it has no result")
        path = queue.result_file(job_id)
        if path is None:
            return error(404, "this job has no result file (or it expired)")
        try:
            # Open before answering: the retention sweep may delete the file at any moment,
            # and an open file stays readable after it is unlinked.
            handle = path.open("rb")
        except FileNotFoundError:
            return error(404, "this job has no result file (or it expired)")
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return StreamingResponse(
            _read_chunks(handle), media_type=media,
            headers={"Content-Length": str(os.fstat(handle.fileno()).st_size),
                     "Content-Disposition":
                         f'attachment; filename="{status.job}-{job_id[:8]}{path.suffix}"'})

    @api.get("/api/socket", include_in_schema=False)
    async def socket_ready() -> Response:
        # The seed's clients call this first to boot the socket server; ours is always up.
        return ORJSONResponse({"ok": True, "path": "/socket.io/"})

    @api.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return ORJSONResponse({"ok": True})

    @api.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        started = time.monotonic()
        try:
            await queue.fast.call("PING")
        except REDIS_ERRORS as err:
            return error(503, f"Redis unreachable: {err}")
        return ORJSONResponse({"ok": True, "redis_ms": round((time.monotonic() - started) * 1000, 2),
                               **stats()})

    return api


async def _read_chunks(handle: BinaryIO, size: int = 1 << 16) -> AsyncIterator[bytes]:
    with handle:
        while chunk := await asyncio.to_thread(handle.read, size):
            yield chunk


def _bind(handler: Any, job: str) -> Any:
    async def route(request: Request) -> Response:
        return await handler(request, job)

    route.__name__ = f"enqueue_{job.replace('-', '_')}"
    return route


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {200: "OK", 202: "Accepted: {jobId}", 400: "Malformed JSON", 401: "Not signed in",
            403: "Not allowed", 404: "Unknown job",
            409: "Not finished", 413: "Body too large", 415: "Not JSON", 422: "Invalid input",
            429: "Rate limited", 503: "Queue unavailable"}
    return {code: {"description": text[code]} for code in codes}

"""HTTP routes: enqueue, status, cancel, result files, health.

The request path only validates and enqueues; it never runs job code. Errors are JSON
``{"error": ..., ...}`` with the status codes of DESIGN.md's contract.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from ..errors import QueueUnavailable
from ..ids import is_job_id
from ..metrics.web import WebMetrics, may_scrape
from ..queue import CannotCancel, JobQueue
from ..redis import REDIS_ERRORS
from ..status import JobState, JobStatus
from .access import Access, AccessPolicy, Action, Caller
from .enqueue import Enqueuer, read_body, unavailable
from .headers import RESULT_CSP
from .http import ORJSONResponse, error
from .tokens import BadToken
from .watchers import Watchers


class Accepted(BaseModel):
    jobId: str = Field(description="The new job's id: 128 random bits, base64url")
    watchToken: str | None = Field(
        default=None, description="Lets its holder watch this one job, read-only, until it "
                                  "expires (when the server has JOBCAST_WATCH_SECRET)")


class BatchAccepted(BaseModel):
    jobIds: list[str] = Field(description="The new jobs' ids, in the order of the items")
    watchTokens: list[str] | None = None


class Status(BaseModel):
    jobId: str
    job: str
    state: JobState
    progress: float
    result: Any = None
    reason: str | None = None
    attemptsMade: int
    createdAt: int | None = None
    finishedAt: int | None = None
    message: str | None = Field(default=None, description="The handler's progress message")
    eta: float | None = Field(default=None, description="Seconds left (null while unknown)")
    output: int = Field(default=0, description="Output chunks written (GET .../output)")
    logs: int = Field(default=0, description="Log lines written (GET .../logs)")
    cancelRequested: bool | None = Field(
        default=None, description="On DELETE: the worker was asked to stop it and has not yet")


class ErrorBody(BaseModel):
    error: str
    details: list[dict[str, Any]] | None = None


API_DOCS = Path(__file__).resolve().parent / "apidocs"

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "A retry with the same key and input answers the first job's id instead of "
                   "starting the work again; the same key with another input is a 409."}

WATCH_TOKEN = {
    "name": "token", "in": "query", "required": False, "schema": {"type": "string"},
    "description": "A watch token (the enqueue answer's watchToken): read-only access to this "
                   "one job without the application's session; or the X-Jobcast-Token header."}

_TEXT = {200: "OK", 202: "Accepted", 400: "Malformed JSON", 401: "Not signed in",
         403: "Not allowed", 404: "Unknown job", 409: "Not possible in the job's state",
         413: "Body too large", 415: "Not JSON", 422: "Invalid input", 429: "Rate limited",
         503: "Queue unavailable"}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"description": _TEXT[code], "model": ErrorBody} for code in codes}


@dataclass(frozen=True)
class Services:
    """What the routes use, kept on the app's state (``request.app.state.jobcast``)."""

    queue: JobQueue
    policy: AccessPolicy
    enqueuer: Enqueuer
    watchers: Watchers
    stats: Callable[[], Mapping[str, Any]]
    metrics: WebMetrics


def services(request: Request) -> Services:
    found: Services = request.app.state.jobcast
    return found


Use = Annotated[Services, Depends(services)]
jobs_router = APIRouter(tags=["jobs"])
health_router = APIRouter(include_in_schema=False)


def build_api(svc: Services, routers: Sequence[APIRouter] = (), **fastapi: Any) -> FastAPI:
    """The FastAPI app: the routes below and ``routers``, plus one documented enqueue route
    per job."""
    api = FastAPI(
        title="jobcast",
        version=__version__,
        summary="Enqueue heavy jobs, follow their progress, fetch their results.",
        docs_url=None,  # served below from the pinned package, not a CDN
        openapi_url="/api/openapi.json",
        redoc_url=None,
        default_response_class=ORJSONResponse,
        redirect_slashes=False,
        **fastapi,
    )
    api.state.jobcast = svc
    api.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    api.add_exception_handler(QueueUnavailable, _unavailable)  # type: ignore[arg-type]
    api.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    api.add_exception_handler(BadToken, _bad_token)  # type: ignore[arg-type]
    for spec in svc.queue.jobs:
        schema = spec.input.model_json_schema() if spec.input else {"type": "object"}
        api.add_api_route(
            f"/api/{spec.name}", _enqueue_route(spec.name), methods=["POST"], status_code=202,
            response_model=Accepted, summary=f"Start a {spec.name} job", tags=["jobs"],
            openapi_extra={"requestBody": {"required": True,
                                           "content": {"application/json": {"schema": schema}}},
                           "parameters": [IDEMPOTENCY_KEY]},
            responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
        )
        api.add_api_route(
            f"/api/{spec.name}/batch", _enqueue_route(spec.name, batch=True), methods=["POST"],
            status_code=202, response_model=BatchAccepted, tags=["jobs"],
            summary=f"Start many {spec.name} jobs: all, or none",
            description="Every item is validated first; a 422 names each invalid item by its "
                        "index and adds nothing.",
            openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                "schema": {"type": "array", "items": schema, "minItems": 1,
                           "maxItems": svc.enqueuer.max_batch}}}}},
            responses=error_responses(400, 401, 403, 404, 413, 415, 422, 429, 503),
        )
    for router in (jobs_router, *routers, health_router):
        api.include_router(router)
    _add_api_docs(api)
    return api


def _add_api_docs(api: FastAPI) -> None:
    """Swagger UI at /api/docs, its files from the pinned fastapi-offline package (Swagger UI
    5, which reads OpenAPI 3.1): it works offline, and its start script is a file (the
    Content-Security-Policy allows no inline script)."""
    import fastapi_offline

    assets = Path(fastapi_offline.__file__).parent / "static"
    api.mount("/api/docs/assets", StaticFiles(directory=assets), name="api-docs-assets")

    @api.get("/api/docs", include_in_schema=False)
    async def api_docs() -> FileResponse:
        return FileResponse(API_DOCS / "index.html")

    @api.get("/api/docs/start.js", include_in_schema=False)
    async def api_docs_start() -> FileResponse:
        return FileResponse(API_DOCS / "start.js", media_type="text/javascript")


async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
    return error(exc.status_code, str(exc.detail))


async def _invalid(_: Request, exc: RequestValidationError) -> Response:
    """A bad query parameter: the same error shape as a bad job input (not FastAPI's own)."""
    details = [{"field": ".".join(str(p) for p in e["loc"][1:]), "message": e["msg"]}
               for e in exc.errors()]
    return error(422, "invalid request", details=details)


async def _bad_token(_: Request, exc: BadToken) -> Response:
    return error(403, str(exc))


async def _unavailable(_: Request, exc: QueueUnavailable) -> Response:
    status, content, headers = unavailable(exc)
    return ORJSONResponse(content, status_code=status, headers=headers)


def client_of(request: Request) -> Caller:
    return Caller.from_asgi(request.headers, request.client.host if request.client else None)


def token_of(request: Request) -> str | None:
    """A watch token: ``?token=`` (what EventSource and links can send) or X-Jobcast-Token."""
    return request.query_params.get("token") or request.headers.get("x-jobcast-token")


async def visible(svc: Services, request: Request, job_id: str, action: Action) -> JobStatus | None:
    """The job, if it exists and this client may do ``action`` with it (else None: the same
    404 as an id that never existed; a watch token that does not hold raises BadToken, a 403)."""
    status = await svc.queue.status(job_id) if is_job_id(job_id) else None
    if status is None or not await svc.policy.permits(
            Access(action, status.job, job_id, client_of(request), token=token_of(request)),
            status.owner):
        return None
    return status


async def enqueue(svc: Services, request: Request, job: str, batch: bool = False) -> Response:
    """FastAPI's enqueue routes: the same handler as the plain-ASGI fast path."""
    body = await read_body(request.receive, svc.enqueuer.max_body)
    status, content, headers = await svc.enqueuer.handle(
        job, request.headers.get("content-type", ""), body, client_of(request),
        request.scope.get("root_path", ""), request.headers.get("idempotency-key"), batch)
    return ORJSONResponse(content, status_code=status, headers=headers)


def _enqueue_route(job: str, batch: bool = False) -> Any:
    async def route(request: Request, svc: Use) -> Response:
        return await enqueue(svc, request, job, batch)

    route.__name__ = f"enqueue_{job.replace('-', '_')}{'_batch' if batch else ''}"
    return route


@jobs_router.post("/api/{job}", include_in_schema=False)
async def enqueue_unknown(job: str, request: Request, svc: Use) -> Response:
    return await enqueue(svc, request, job)


@jobs_router.post("/api/{job}/batch", include_in_schema=False)
async def enqueue_batch_unknown(job: str, request: Request, svc: Use) -> Response:
    return await enqueue(svc, request, job, batch=True)


@jobs_router.get("/api/jobs/{job_id}", response_model=Status,
                 summary="A job's status (the polling fallback)",
                 responses=error_responses(403, 404, 503),
                 openapi_extra={"parameters": [WATCH_TOKEN]})
async def get_status(job_id: str, request: Request, svc: Use) -> Response:
    status = await visible(svc, request, job_id, "status")
    if status is None:
        return error(404, "unknown job")
    return ORJSONResponse((await svc.queue.exact_state(status)).to_json())


@jobs_router.delete("/api/jobs/{job_id}", response_model=Status,
                    summary="Cancel a job (202 while its worker has not stopped it yet)",
                    responses={202: {"description": "Asked to stop", "model": Status},
                               **error_responses(404, 409, 503)})
async def cancel(job_id: str, request: Request, svc: Use) -> Response:
    if await visible(svc, request, job_id, "cancel") is None:
        return error(404, "unknown job")
    try:
        result = await svc.queue.cancel(job_id)
    except CannotCancel as err:
        return error(409, str(err))
    if result is None:
        return error(404, "unknown job")
    body = result.status.to_json()
    if not result.stopped:
        return ORJSONResponse({**body, "cancelRequested": True}, status_code=202)
    return ORJSONResponse(body)


@jobs_router.get("/api/jobs/{job_id}/result", summary="A job's result file",
                 responses={200: {"description": "The file", "content": {"application/pdf": {}}},
                            **error_responses(403, 404, 409, 503)},
                 openapi_extra={"parameters": [WATCH_TOKEN]})
async def result_file(job_id: str, request: Request, svc: Use) -> Response:
    status = await visible(svc, request, job_id, "result")
    if status is None:
        return error(404, "unknown job")
    if status.state is not JobState.COMPLETED:
        if not status.state.is_terminal:
            return error(409, f"the job is {status.state.value}; its result is not ready")
        return error(404, f"the job {status.state.value}; it has no result")
    path = svc.queue.result_file(job_id)
    if path is None:
        return error(404, "this job has no result file (or it expired)")
    try:
        # Open before answering: the retention sweep may delete the file at any moment, and
        # an open file stays readable after it is unlinked.
        handle = path.open("rb")
    except FileNotFoundError:
        return error(404, "this job has no result file (or it expired)")
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return StreamingResponse(
        _read_chunks(handle), media_type=media,
        headers={"Content-Length": str(os.fstat(handle.fileno()).st_size),
                 "Content-Security-Policy": RESULT_CSP,  # sandboxed: whatever a job wrote
                 "Content-Disposition":
                     f'attachment; filename="{status.job}-{job_id[:8]}{path.suffix}"'})


async def _read_chunks(handle: BinaryIO, size: int = 1 << 16) -> AsyncIterator[bytes]:
    with handle:
        while chunk := await asyncio.to_thread(handle.read, size):
            yield chunk


@health_router.get("/api/socket")
async def socket_ready(request: Request) -> Response:
    # The seed's clients call this first to boot the socket server; ours is always up.
    return ORJSONResponse({"ok": True, "path": f"{request.scope.get('root_path', '')}/socket.io/"})


@health_router.get("/metrics")
async def metrics(request: Request, svc: Use) -> Response:
    """Prometheus' scrape: with JOBCAST_METRICS_TOKEN, a bearer token; else loopback only."""
    secret = svc.queue.settings.metrics_token
    token = secret.get_secret_value() if secret else None
    if not may_scrape(token, request.headers.get("authorization"),
                      request.client.host if request.client else None):
        if token:
            return ORJSONResponse({"error": "send Authorization: Bearer <JOBCAST_METRICS_TOKEN>"},
                                  status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return error(403, "metrics are for this machine only; set JOBCAST_METRICS_TOKEN to "
                          "scrape from elsewhere")
    try:
        depths = await svc.queue.depths()
    except QueueUnavailable:
        depths = {}  # still served: jobcast_bridge_connected tells Redis is away
    body, content_type = svc.metrics.render(depths)
    return Response(body, media_type=content_type)


@health_router.get("/healthz")
async def healthz() -> Response:
    return ORJSONResponse({"ok": True})


@health_router.get("/readyz")
async def readyz(svc: Use) -> Response:
    """Ready when Redis answers; also what this process holds, and each queue's workload,
    with a warning for jobs that wait while no worker serves their queue."""
    started = time.monotonic()
    try:
        await svc.queue.fast.call("PING")
        redis_ms = round((time.monotonic() - started) * 1000, 2)
        queues = await svc.queue.workload()
    except (QueueUnavailable, *REDIS_ERRORS) as err:
        return error(503, f"Redis unreachable: {err}")
    warnings = [*svc.queue.warnings,
                *[f"queue {name!r} has {q['waiting']} waiting job(s) and no worker"
                  for name, q in queues.items() if q["waiting"] and q["workers"] == 0]]
    return ORJSONResponse({"ok": True, "redis_ms": redis_ms, **svc.stats(), "queues": queues,
                           "warnings": warnings})

"""The enqueue path, ``POST /api/<job>``: validate, authorize, add, answer 202.

It is the hottest route, so the web app serves it as plain ASGI, ahead of FastAPI's routing and
middleware (about a tenth of the web's CPU per job when it went through them); FastAPI's route,
which the OpenAPI schema describes, calls the same ``handle``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping
from typing import Any

import orjson

from ..errors import InvalidInput, QueueUnavailable, UnknownJob
from ..queue import IdempotencyConflict, JobQueue
from .access import Access, AccessPolicy, Caller
from .http import route_path
from .ratelimit import RateLimiter

Reply = tuple[int, dict[str, Any], dict[str, str]]
_KEY = re.compile(r"[!-~][ -~]{0,254}")

def unavailable(err: QueueUnavailable) -> Reply:
    """503: nothing was added; ``reason`` says what Redis did (unreachable, full, ...)."""
    return (503, {"error": "the job queue is unavailable, try again shortly",
                  "reason": str(err)}, {"Retry-After": "2"})


class Enqueuer:
    def __init__(
        self, queue: JobQueue, policy: AccessPolicy, limiter: RateLimiter, max_body: int
    ) -> None:
        self.queue = queue
        self.policy = policy
        self.limiter = limiter
        self.max_body = max_body
        self.paths = {f"/api/{name}": name for name in queue.jobs.names()}
        self.on_answer: Callable[[str, int], None] | None = None
        """Told each answer's job and status code (the metrics count them)."""

    async def handle(self, job: str, content_type: str, body: bytes | None, client: Caller,
                     root_path: str = "", idempotency_key: str | None = None) -> Reply:
        """The whole enqueue: the fast path and FastAPI's route both answer with this."""
        reply = await self._handle(job, content_type, body, client, root_path, idempotency_key)
        if self.on_answer is not None:
            self.on_answer(job if job in self.queue.jobs else "", reply[0])
        return reply

    async def _handle(self, job: str, content_type: str, body: bytes | None, client: Caller,
                      root_path: str, idempotency_key: str | None) -> Reply:
        if job not in self.queue.jobs:
            return 404, {"error": str(UnknownJob(job, self.queue.jobs.names()))}, {}
        media = content_type.split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            return 415, {"error": "send the job's input as JSON "
                                  "(Content-Type: application/json)"}, {}
        if body is None:
            return 413, {"error": f"the body is larger than {self.max_body} bytes"}, {}
        if idempotency_key is not None and not _KEY.fullmatch(idempotency_key):
            return 400, {"error": "Idempotency-Key: 1 to 255 visible characters"}, {}
        try:
            orjson.loads(body)  # malformed JSON is a 400; the model validates the text itself
        except orjson.JSONDecodeError as err:
            return 400, {"error": f"malformed JSON: {err}"}, {}
        try:
            owner = await self.policy.owner_of(client)
            if self.policy.owner is not None and owner is None:
                return 401, {"error": "sign in to start jobs"}, {}
            if not await self.policy.permits(Access("enqueue", job, None, client), None):
                return 403, {"error": "not allowed to start this job"}, {}
            retry_after = await self.limiter.hit(client.address or "unknown")
            if retry_after:
                return 429, {"error": "too many jobs started, slow down"}, {
                    "Retry-After": str(retry_after)}
            job_id = await self.queue.enqueue(job, body, owner=owner,
                                              idempotency_key=idempotency_key)
        except InvalidInput as err:
            return 422, {"error": "invalid input", "details": err.details}, {}
        except IdempotencyConflict as err:
            return 409, {"error": str(err)}, {}
        except QueueUnavailable as err:
            return unavailable(err)
        answer = {"jobId": job_id}
        if self.policy.tokens is not None:
            answer["watchToken"] = self.policy.tokens.issue(job_id)
        return 202, answer, {"Location": f"{root_path}/api/jobs/{job_id}"}

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        """``POST /api/<job>`` as plain ASGI, ahead of FastAPI's routing and middleware."""
        job = self.paths[route_path(scope)]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        body: bytes | None
        if declared.isdigit() and int(declared) > self.max_body:
            body = None
        else:
            body = await read_body(receive, self.max_body)
        client_addr = scope.get("client")
        client = Caller.from_asgi(headers, client_addr[0] if client_addr else None)
        status, content, extra = await self.handle(job, headers.get("content-type", ""), body,
                                                   client, scope.get("root_path", ""),
                                                   headers.get("idempotency-key"))
        data = orjson.dumps(content)
        response_headers = [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()),
                            (b"x-content-type-options", b"nosniff")]
        response_headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": data})


async def read_body(receive: Any, limit: int) -> bytes | None:
    """The request body, or None as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)

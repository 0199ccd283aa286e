"""The enqueue path, ``POST /api/<job>`` (and ``/api/<job>/batch``): validate, authorize, add,
answer 202.

It is the hottest route, so the web app serves it as plain ASGI, ahead of FastAPI's routing and
middleware (about a tenth of the web's CPU per job when it went through them); FastAPI's route,
which the OpenAPI schema describes, calls the same ``handle``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping
from typing import Any

import orjson

from .. import tracing
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
        self, queue: JobQueue, policy: AccessPolicy, limiter: RateLimiter, max_body: int,
        max_batch: int = 1000,
    ) -> None:
        self.queue = queue
        self.policy = policy
        self.limiter = limiter
        self.max_body = max_body
        self.max_batch = max_batch
        self.paths = {f"/api/{name}": name for name in queue.jobs.names()}
        self.on_answer: Callable[[str, int], None] | None = None
        """Told each answer's job and status code (the metrics count them)."""

    async def handle(self, job: str, content_type: str, body: bytes | None, client: Caller,
                     root_path: str = "", idempotency_key: str | None = None,
                     batch: bool = False) -> Reply:
        """The whole enqueue: the fast path and FastAPI's routes all answer with this.
        ``batch``: the body is a JSON array of inputs, added all together or not at all."""
        with tracing.span(f"POST /api/{job}{'/batch' if batch else ''}", tracing.SERVER,
                          headers=client.headers) as current:
            if batch:
                reply = await self._batch(job, content_type, body, client, idempotency_key)
            else:
                reply = await self._one(job, content_type, body, client, root_path,
                                        idempotency_key)
            tracing.answered(current, reply[0])
        if self.on_answer is not None:
            self.on_answer(job if job in self.queue.jobs else "", reply[0])
        return reply

    async def _one(self, job: str, content_type: str, body: bytes | None, client: Caller,
                   root_path: str, idempotency_key: str | None) -> Reply:
        refused = self._refusal(job, content_type, body)
        if refused is not None:
            return refused
        if idempotency_key is not None and not _KEY.fullmatch(idempotency_key):
            return 400, {"error": "Idempotency-Key: 1 to 255 visible characters"}, {}
        assert body is not None
        try:
            orjson.loads(body)  # malformed JSON is a 400; the model validates the text itself
        except orjson.JSONDecodeError as err:
            return 400, {"error": f"malformed JSON: {err}"}, {}
        try:
            owner, refused = await self._admit(job, client, 1)
            if refused is not None:
                return refused
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

    async def _batch(self, job: str, content_type: str, body: bytes | None, client: Caller,
                     idempotency_key: str | None) -> Reply:
        refused = self._refusal(job, content_type, body)
        if refused is not None:
            return refused
        if idempotency_key is not None:
            return 400, {"error": "Idempotency-Key is not taken on a batch (a retried batch "
                                  "could not be told from a new one); send the items one by "
                                  "one with their own keys"}, {}
        assert body is not None
        try:
            items = orjson.loads(body)
        except orjson.JSONDecodeError as err:
            return 400, {"error": f"malformed JSON: {err}"}, {}
        if not isinstance(items, list) or not items:
            return 422, {"error": "send a JSON array of the jobs' inputs (at least one)"}, {}
        if len(items) > self.max_batch:
            return 422, {"error": f"at most {self.max_batch} items in a batch "
                                  f"(JOBCAST_MAX_BATCH), got {len(items)}"}, {}
        try:
            owner, refused = await self._admit(job, client, len(items))
            if refused is not None:
                return refused
            job_ids = await self.queue.enqueue_many(job, items, owner=owner)
        except InvalidInput as err:
            return 422, {"error": "invalid input: nothing was added", "details": err.details}, {}
        except QueueUnavailable as err:
            return unavailable(err)
        answer: dict[str, Any] = {"jobIds": job_ids}
        if self.policy.tokens is not None:
            answer["watchTokens"] = [self.policy.tokens.issue(i) for i in job_ids]
        return 202, answer, {}

    def _refusal(self, job: str, content_type: str, body: bytes | None) -> Reply | None:
        """What is wrong with the request before its body is read as JSON, if anything."""
        if job not in self.queue.jobs:
            return 404, {"error": str(UnknownJob(job, self.queue.jobs.names()))}, {}
        media = content_type.split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            return 415, {"error": "send the job's input as JSON "
                                  "(Content-Type: application/json)"}, {}
        if body is None:
            return 413, {"error": f"the body is larger than {self.max_body} bytes"}, {}
        return None

    async def _admit(self, job: str, client: Caller, count: int) -> tuple[str | None,
                                                                           Reply | None]:
        """Who the client is, and a refusal if it may not start ``count`` such jobs now."""
        owner = await self.policy.owner_of(client)
        if self.policy.owner is not None and owner is None:
            return None, (401, {"error": "sign in to start jobs"}, {})
        if not await self.policy.permits(Access("enqueue", job, None, client), None):
            return None, (403, {"error": "not allowed to start this job"}, {})
        retry_after = await self.limiter.hit(client.address or "unknown", count)
        if retry_after:
            return None, (429, {"error": "too many jobs started, slow down"},
                          {"Retry-After": str(retry_after)})
        return owner, None

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

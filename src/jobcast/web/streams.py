"""A job's progress and output over plain HTTP, for clients without Socket.IO (curl, services,
``EventSource``):

- ``GET /api/jobs/<id>/events``: Server-Sent Events, the same events a socket gets (``event:``
  is the Socket.IO event's name, ``<job>:progress``...), after a first ``state`` event (the
  join's ack), in the same order, each once; every event's ``id`` is "<output seq>.<log seq>",
  so a reconnecting
  ``EventSource`` (``Last-Event-ID``) resumes where it was. The stream ends after the job's end;
  a reconnect after that gets 204, which tells ``EventSource`` to stop.
- ``GET /api/jobs/<id>/output`` and ``/logs``: what is stored, as JSON or plain text.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import MutableMapping
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel

from ..bridge import Delivery
from .access import Caller
from .api import WATCH_TOKEN, Services, Use, client_of, error_responses, token_of, visible
from .http import ORJSONResponse, error
from .watchers import seen

KEEPALIVE_S = 15.0
"""A comment line this often keeps proxies from closing an idle stream."""
STREAMS_PER_CLIENT = 100
"""Open event streams per client address; more get 429 (each holds a room)."""
INBOX_LIMIT = 10_000
"""Events waiting for a slow reader; past this the stream ends and the client resumes with
Last-Event-ID (nothing is lost: what it lacks is read from storage then)."""
RETRY_MS = 1000
TERMINAL = ("completed", "failed")

streams_router = APIRouter(tags=["jobs"])
_open: Counter[str] = Counter()


class Chunk(BaseModel):
    seq: int
    text: str


class Entries(BaseModel):
    jobId: str
    total: int
    entries: list[Chunk]


def _last_event_id(raw: str | None) -> tuple[int | None, int | None, bool]:
    """ "<output>.<log>" (".end" after the job's end) → the seqs it names, and whether it
    was the end."""
    if not raw:
        return None, None, False
    parts = raw.strip().split(".")
    ended = parts[-1] == "end"
    try:
        return int(parts[0]), int(parts[1]), ended
    except (IndexError, ValueError):
        return None, None, ended


def _frame(event: str, data: Any, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"


class EventStream(Response):
    """An SSE response that notices a client that goes away even while the job is silent
    (Starlette's StreamingResponse only notices on its next write, under ASGI 2.4)."""

    media_type = "text/event-stream"

    def __init__(self, svc: Services, client: Caller, job_id: str, after: dict[str, int],
                 counted_as: str, token: str | None) -> None:
        super().__init__(headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self.svc, self.client, self.job_id, self.after = svc, client, job_id, after
        self.token = token
        # Counted from the decision, not from the first byte: a burst cannot slip past the bound.
        self.counted_as = counted_as
        _open[counted_as] += 1

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        try:
            await self._stream(receive, send)
        finally:
            _open[self.counted_as] -= 1
            if not _open[self.counted_as]:
                del _open[self.counted_as]

    async def _stream(self, receive: Any, send: Any) -> None:
        inbox: asyncio.Queue[Delivery | None] = asyncio.Queue()

        def deliver(delivery: Delivery) -> None:
            inbox.put_nowait(delivery if inbox.qsize() < INBOX_LIMIT else None)

        watchers = self.svc.watchers
        sid = watchers.open_stream(self.client, deliver)
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": self.raw_headers})
            pump = asyncio.ensure_future(self._pump(sid, inbox, send))
            gone = asyncio.ensure_future(_disconnected(receive))
            try:
                await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (pump, gone):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, OSError):
                        await task
            if pump.done() and not pump.cancelled() and pump.exception() is None:
                with contextlib.suppress(OSError):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watchers.close_stream(sid)

    async def _pump(self, sid: str, inbox: asyncio.Queue[Delivery | None], send: Any) -> None:
        seqs = dict(self.after)

        async def write(body: bytes) -> None:
            await send({"type": "http.response.body", "body": body, "more_body": True})

        await write(f"retry: {RETRY_MS}\n\n".encode())
        ack = await self.svc.watchers.join(sid, self.client, self.job_id, self.after, self.token)
        await write(_frame("state", ack, f"{seqs['output']}.{seqs['log']}"))
        if not ack.get("ok"):
            return
        while True:
            try:
                delivery = await asyncio.wait_for(inbox.get(), KEEPALIVE_S)
            except TimeoutError:
                await write(b": keepalive\n\n")
                continue
            if delivery is None:
                return  # too far behind: the client resumes from its Last-Event-ID
            kind = delivery.event.rpartition(":")[2]
            if kind in seqs:
                seqs[kind] = delivery.payload.get("seq", seqs[kind])
            event_id = f"{seqs['output']}.{seqs['log']}"
            if kind in TERMINAL:
                await write(_frame(delivery.event, delivery.payload, event_id + ".end"))
                return
            await write(_frame(delivery.event, delivery.payload, event_id))


async def _disconnected(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


@streams_router.get(
    "/api/jobs/{job_id}/events", summary="A job's events as Server-Sent Events",
    responses={200: {"description": "event: state, then <job>:progress, :output, :log, "
                                    ":retrying, and :completed or :failed; data: JSON",
                     "content": {"text/event-stream": {}}},
               204: {"description": "Resumed after the job's end: nothing more to say"},
               **error_responses(403, 404, 429, 503)},
    openapi_extra={"parameters": [WATCH_TOKEN]})
async def job_events(job_id: str, request: Request, svc: Use,
                     after: Annotated[int, Query(ge=-1)] = -1,
                     logsAfter: Annotated[int, Query(ge=-1)] = -1) -> Response:  # noqa: N803
    out_seq, log_seq, ended = _last_event_id(request.headers.get("last-event-id"))
    if ended:
        return Response(status_code=204)
    if await visible(svc, request, job_id, "join") is None:
        return error(404, "unknown job")
    client = client_of(request)
    key = client.address or "-"
    if _open[key] >= STREAMS_PER_CLIENT:
        return error(429, f"too many open event streams (at most {STREAMS_PER_CLIENT})")
    position = seen(out_seq if out_seq is not None else after,
                    log_seq if log_seq is not None else logsAfter)
    return EventStream(svc, client, job_id, position, key, token_of(request))


def _entries_route(kind: str, what: str) -> Any:
    async def route(job_id: str, request: Request, svc: Use,
                    after: Annotated[int, Query(ge=-1)] = -1,
                    format: Annotated[str, Query(pattern="^(json|text)$")] = "json",  # noqa: A002
                    ) -> Response:
        status = await visible(svc, request, job_id, "status")
        if status is None:
            return error(404, "unknown job")
        entries, total = await svc.queue.entries(status, kind, after)
        if format == "text":
            glue = "" if kind == "output" else "\n"
            text = glue.join(e.text for e in entries) + (glue if entries and glue else "")
            return PlainTextResponse(text, headers={"X-Jobcast-Total": str(total)})
        return ORJSONResponse({"jobId": job_id, "total": total,
                               "entries": [{"seq": e.seq, "text": e.text} for e in entries]})

    route.__name__ = f"job_{kind}"
    route.__doc__ = (f"The job's {what} after seq ``after``: JSON, or ``format=text`` for the "
                     "text alone.")
    return route


for _kind, _what, _path in (("output", "streamed output", "output"),
                            ("log", "log lines (BullMQ's job log)", "logs")):
    streams_router.add_api_route(
        f"/api/jobs/{{job_id}}/{_path}", _entries_route(_kind, _what), methods=["GET"],
        response_model=Entries, summary=f"A job's {_what}",
        responses=error_responses(403, 404, 503), openapi_extra={"parameters": [WATCH_TOKEN]})

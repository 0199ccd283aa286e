"""A Python service's client for a jobcast server: start jobs, follow them, get their results.

Plain HTTP (events come as Server-Sent Events), so it needs no Socket.IO and passes through
any proxy. A dropped stream is resumed where it stopped (``Last-Event-ID``): every event comes
once, in order.

Example usage::

    async with jobcast.Client("http://localhost:8000") as client:
        job_id = await client.start("report", {"title": "Q3", "pages": 20})
        async for event in client.watch(job_id):
            if event.kind == "progress":
                print(event.data["progress"], event.data.get("message"))
        result = await client.result(job_id)    # the result, or JobError
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
import orjson

log = logging.getLogger("jobcast.client")

TERMINAL = ("completed", "failed")
RETRY_STATUSES = (429, 502, 503, 504)


class JobError(Exception):
    """The job ended without a result (failed or cancelled), or the server refused it."""

    def __init__(self, message: str, *, state: str | None = None, status: int | None = None,
                 body: Any = None) -> None:
        super().__init__(message)
        self.state = state
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Event:
    """One event of a job: ``name`` as Socket.IO names it (``report:progress``; ``state`` for
    the first, the join's answer), ``data`` its JSON payload, ``id`` where the stream stood
    ("<output>.<log>")."""

    name: str
    data: dict[str, Any]
    id: str | None = None

    @property
    def kind(self) -> str:
        """state, progress, output, log, retrying, completed or failed."""
        return self.name.rpartition(":")[2]


class Client:
    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None,
                 timeout: float = 30.0, http: httpx.AsyncClient | None = None) -> None:
        self._http = http or httpx.AsyncClient(
            base_url=url.rstrip("/"), headers=dict(headers or {}),
            timeout=httpx.Timeout(timeout, read=None))  # a quiet job's stream may idle long
        self._own = http is None

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_: type[BaseException] | BaseException | TracebackType | None
                        ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own:
            await self._http.aclose()

    # -- jobs ------------------------------------------------------------------------------

    async def start(self, job: str, data: Mapping[str, Any] | None = None, *,
                    idempotency_key: str | None = None) -> str:
        """Enqueue a job; its id. With ``idempotency_key``, a retry of the same call (same key,
        same input) gets the first job's id instead of a second job."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = await self._json("POST", f"/api/{job}", json=dict(data or {}), headers=headers)
        job_id: str = body["jobId"]
        return job_id

    async def status(self, job_id: str) -> dict[str, Any]:
        body: dict[str, Any] = await self._json("GET", f"/api/jobs/{job_id}")
        return body

    async def cancel(self, job_id: str) -> dict[str, Any]:
        body: dict[str, Any] = await self._json("DELETE", f"/api/jobs/{job_id}")
        return body

    async def output(self, job_id: str) -> str:
        """All the output the job has written so far."""
        response = await self._http.get(f"/api/jobs/{job_id}/output", params={"format": "text"})
        _raise_for(response)
        return response.text

    async def download(self, job_id: str) -> bytes:
        """The job's result file."""
        response = await self._http.get(f"/api/jobs/{job_id}/result")
        _raise_for(response)
        return response.content

    async def result(self, job_id: str) -> Any:
        """Wait for the job's end: its result, or JobError (failed or cancelled)."""
        async for event in self.watch(job_id):
            if event.kind == "completed":
                return event.data.get("result")
            if event.kind == "failed":
                raise JobError(str(event.data.get("reason")), state=event.data.get("state"))
        raise JobError("the event stream ended before the job did")  # pragma: no cover

    async def watch(self, job_id: str, *, after: int = -1,
                    logs_after: int = -1) -> AsyncIterator[Event]:
        """The job's events until its end, each once, in order; resumed after a dropped
        connection or a server restart (``after``/``logs_after``: output and log entries
        already had)."""
        last_id: str | None = f"{after}.{logs_after}"
        delay = 0.5
        while True:
            headers = {"Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = last_id
            try:
                async with self._http.stream("GET", f"/api/jobs/{job_id}/events",
                                             headers=headers) as response:
                    if response.status_code == 204:
                        return  # resumed after the end: nothing more to say
                    if response.status_code in RETRY_STATUSES:
                        await response.aread()
                        delay = _retry_after(response, delay)
                        raise _Again()
                    if response.status_code != 200:
                        await response.aread()
                        _raise_for(response)
                    async for event in _events(response):
                        delay = 0.5
                        if event.id is not None:
                            last_id = event.id
                        if event.kind == "state" and not event.data.get("ok", True):
                            if event.data.get("retry"):
                                raise _Again()
                            raise JobError(str(event.data.get("error")), body=event.data)
                        yield event
                        if event.kind in TERMINAL:
                            return
            except (_Again, httpx.TransportError) as err:
                log.debug("event stream of %s: %s; resuming in %.1fs", job_id, err, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    # -- internals -------------------------------------------------------------------------

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, path, **kwargs)
        _raise_for(response)
        return response.json()


class _Again(Exception):
    """The server asked for a retry (busy, briefly without Redis)."""


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:500]}
    message = body.get("error") if isinstance(body, dict) else None
    raise JobError(f"{response.status_code}: {message or response.reason_phrase}",
                   status=response.status_code, body=body)


def _retry_after(response: httpx.Response, delay: float) -> float:
    try:
        return max(delay, float(response.headers.get("retry-after", "")))
    except ValueError:
        return delay


async def _events(response: httpx.Response) -> AsyncIterator[Event]:
    """Parse text/event-stream (the fields jobcast sends: id, event, data; comments skipped)."""
    kind, event_id = "message", None
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield Event(kind, orjson.loads("\n".join(data)), event_id)
            kind, data, event_id = "message", [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            kind = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = value

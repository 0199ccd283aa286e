"""Real clients: a python-socketio client that records every event, and small HTTP helpers."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import httpx
import socketio


class Watcher:
    """A real python-socketio client that records every event it gets, per job."""

    def __init__(self, url: str, transports: list[str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.transports = transports or ["websocket"]
        self.headers = headers or {}
        self.client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.2)
        self.events: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        self._changed = asyncio.Event()

        @self.client.on("*")
        async def any_event(event: str, data: Any = None) -> None:
            if isinstance(data, dict) and "jobId" in data:
                self.events[data["jobId"]].append((event, data))
                self._changed.set()

    async def connect(self) -> Watcher:
        await self.client.connect(self.url, transports=self.transports, headers=self.headers,
                                  wait_timeout=10)
        return self

    async def join(self, job_id: Any) -> Any:
        return await self.client.call("joinRoom", job_id, timeout=10)

    def kinds(self, job_id: str) -> list[str]:
        return [event.split(":", 1)[1] for event, _ in self.events[job_id]]

    def terminal(self, job_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(e, d) for e, d in self.events[job_id] if e.endswith((":completed", ":failed"))]

    def progress(self, job_id: str) -> list[float]:
        return [d["progress"] for e, d in self.events[job_id] if e.endswith(":progress")]

    async def wait_terminal(self, job_id: str, timeout: float = 20,
                            count: int = 1) -> tuple[str, dict[str, Any]]:
        """The job's ``count``-th terminal event, once it has arrived."""
        async def arrived() -> None:
            while len(self.terminal(job_id)) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(arrived(), timeout)
        return self.terminal(job_id)[count - 1]

    async def close(self) -> None:
        await self.client.disconnect()


async def start_job(http: httpx.AsyncClient, job: str, data: object) -> str:
    response = await http.post(f"/api/{job}", json=data)
    assert response.status_code == 202, response.text
    return str(response.json()["jobId"])


async def job_status(http: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    response = await http.get(f"/api/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def wait_state(http: httpx.AsyncClient, job_id: str, *states: str,
                     timeout: float = 30) -> dict[str, Any]:
    """Poll the status route (the polling fallback under test) until the job is in a state."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = await job_status(http, job_id)
        if body["state"] in states:
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"job {job_id} still {body['state']} after {timeout}s")
        await asyncio.sleep(0.05)

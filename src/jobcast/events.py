"""The event-stream reader: one per web process, over every queue's BullMQ event stream.

bullmq-python's QueueEvents starts at ``$`` and stops for good on the first Redis error. This
reader remembers the last id it saw per stream and resumes from there after an error (so a
Redis restart loses nothing), reads all queues with one blocking XREAD, and hands batches of
typed events to a callback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from . import keys
from .redis_client import REDIS_ERRORS, connect
from .status import decode_json

log = logging.getLogger("jobcast.events")


@dataclass(frozen=True, slots=True)
class QueueEvent:
    """One entry of a queue's event stream, decoded."""

    queue: str
    kind: str
    job_id: str
    fields: dict[str, str]

    @property
    def progress(self) -> float | None:
        value = decode_json(self.fields.get("data"))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        return None

    @property
    def result(self) -> Any:
        return decode_json(self.fields.get("returnvalue"))

    @property
    def reason(self) -> str:
        return self.fields.get("failedReason", "")


Handler = Callable[[list[QueueEvent]], Awaitable[None]]


class EventStreamReader:
    """Reads ``<prefix>:<queue>:events`` for every queue and calls ``handler`` per batch."""

    def __init__(
        self,
        redis_url: str,
        prefix: str,
        queues: list[str],
        handler: Handler,
        *,
        batch: int = 500,
        block_ms: int = 5000,
    ) -> None:
        self._url = redis_url
        self._streams = {keys.events_key(prefix, q): q for q in queues}
        self._handler = handler
        self._batch = batch
        self._block_ms = block_ms
        self._last_ids: dict[str, str] = {}
        self.connected = asyncio.Event()
        self.reconnects = 0

    @property
    def last_ids(self) -> dict[str, str]:
        return dict(self._last_ids)

    async def run(self) -> None:
        """Read until cancelled; a Redis error only pauses it."""
        delay = 0.1
        while True:
            redis = connect(self._url, read_timeout=self._block_ms / 1000 + 10)
            try:
                await self._resume_points(redis)
                self.connected.set()
                delay = 0.1
                await self._read_forever(redis)
            except REDIS_ERRORS as err:
                if self.connected.is_set():
                    log.warning("event stream: Redis unreachable (%s); resuming when it is back", err)
                self.connected.clear()
                self.reconnects += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                await redis.aclose()

    async def _resume_points(self, redis: Redis) -> None:
        """Where to read from: our last id, or the stream's end the first time.

        If a stream's newest id is older than ours, Redis lost its data (a restart without
        persistence): read that stream from the start rather than wait for ids we passed.
        """
        async with redis.pipeline(transaction=False) as pipe:
            for stream in self._streams:
                pipe.xrevrange(stream, count=1)
            newest = await pipe.execute()
        for stream, entries in zip(self._streams, newest):
            top = entries[0][0] if entries else "0-0"
            mine = self._last_ids.get(stream)
            if mine is None:
                self._last_ids[stream] = top
            elif _id_tuple(top) < _id_tuple(mine):
                log.warning("event stream %s went back in time; reading it from the start", stream)
                self._last_ids[stream] = "0-0"

    async def _read_forever(self, redis: Redis) -> None:
        while True:
            reply = await redis.xread(self._last_ids, count=self._batch, block=self._block_ms)
            if not reply:
                continue
            batch: list[QueueEvent] = []
            for stream, entries in reply:
                queue = self._streams[stream]
                for entry_id, fields in entries:
                    kind = fields.get("event", "")
                    job_id = fields.get("jobId", "")
                    if job_id:
                        batch.append(QueueEvent(queue, kind, job_id, fields))
                self._last_ids[stream] = entries[-1][0]
            if batch:
                try:
                    await self._handler(batch)
                except Exception:  # a bug in one emit must not stop the bridge
                    log.exception("event handler failed")


def _id_tuple(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


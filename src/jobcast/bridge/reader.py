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

from .._bullmq import QueueEvent, QueueKeys, decode_entry
from ..redis import REDIS_ERRORS, FastRedis, RedisTarget

log = logging.getLogger("jobcast.bridge")

Handler = Callable[[list[QueueEvent]], Awaitable[None]]

FORWARDED = frozenset({"progress", "completed", "failed", "delayed", "waiting", "removed"})
"""Event kinds the bridge acts on; "added", "active", "drained"... are skipped."""


class EventStreamReader:
    """Reads ``<prefix>:<queue>:events`` for every queue and calls ``handler`` per batch.

    ``on_connect`` runs each time the reader (re)connects, before it reads.
    """

    def __init__(
        self,
        target: RedisTarget,
        prefix: str,
        queues: list[str],
        handler: Handler,
        *,
        on_connect: Callable[[], Awaitable[None]] | None = None,
        batch: int = 500,
        block_ms: int = 5000,
    ) -> None:
        self._target = target
        self._streams = {QueueKeys(prefix, q).events: q for q in queues}
        self._handler = handler
        self._on_connect = on_connect
        self._batch = batch
        self._block_ms = block_ms
        self._last_ids: dict[str, str] = {}
        self.connected = asyncio.Event()
        self.reconnects = 0

    async def run(self) -> None:
        """Read until cancelled; a Redis error only pauses it."""
        delay = 0.1
        while True:
            redis = FastRedis(self._target)  # its own connection: XREAD BLOCK holds it
            try:
                await self._resume_points(redis)
                if self._on_connect is not None:
                    await self._on_connect()
                self.connected.set()
                delay = 0.1
                await self._read_forever(redis)
            except (TimeoutError, *REDIS_ERRORS) as err:
                if self.connected.is_set():
                    log.warning("event stream: Redis unreachable (%s); resuming when it is back",
                                err)
                self.connected.clear()
                self.reconnects += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                await redis.aclose()

    async def _resume_points(self, redis: FastRedis) -> None:
        """Where to read from: our last id, or the stream's end the first time.

        If a stream's newest id is older than ours, Redis lost its data (a restart without
        persistence): read that stream from the start rather than wait for ids we passed.
        """
        newest = await redis.pipeline(
            *[("XREVRANGE", stream, "+", "-", "COUNT", 1) for stream in self._streams])
        for reply in newest:
            if isinstance(reply, Exception):
                raise reply
        for stream, entries in zip(self._streams, newest, strict=True):
            top = entries[0][0] if entries else "0-0"
            mine = self._last_ids.get(stream)
            if mine is None:
                self._last_ids[stream] = top
            elif _id_tuple(top) < _id_tuple(mine):
                log.warning("event stream %s went back in time; reading it from the start", stream)
                self._last_ids[stream] = "0-0"

    async def _read_forever(self, redis: FastRedis) -> None:
        streams = list(self._streams)
        # A silent, half-open connection must not hang the bridge: XREAD answers within
        # block_ms even when nothing happens.
        deadline = self._block_ms / 1000 + 10
        while True:
            ids = [self._last_ids[s] for s in streams]
            async with asyncio.timeout(deadline):
                reply = await redis.call("XREAD", "COUNT", self._batch, "BLOCK", self._block_ms,
                                         "STREAMS", *streams, *ids)
            if not reply:
                continue
            batch: list[QueueEvent] = []
            for stream, entries in reply:
                queue = self._streams[stream]
                for _entry_id, flat in entries:
                    event = decode_entry(queue, flat, FORWARDED)
                    if event is not None:
                        batch.append(event)
                self._last_ids[stream] = entries[-1][0]
            if batch:
                try:
                    await self._handler(batch)
                except Exception:  # a bug in one emit must not stop the bridge
                    log.exception("event handler failed")


def _id_tuple(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)

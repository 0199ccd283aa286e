"""The event-stream reader: one per web process, over every queue's BullMQ event stream.

bullmq-python's QueueEvents starts at ``$`` and stops for good on the first Redis error. This
reader remembers the last id it saw per stream and resumes from there after an error (so a
Redis restart loses nothing), reads all queues with one blocking XREAD, and hands batches of
typed events to a callback.

Streams are trimmed (about a second of events at 2k jobs/s), so a reader that fell behind (a
stalled process, a long GC, SIGSTOP, a partition from Redis) could resume after entries it never
read. It notices: before reading, at most every GAP_CHECK_S, it asks the stream (XINFO, in the
same round trip as the XREAD) whether an entry newer than its last one was deleted. If so it
says which queues through ``on_gap``, whose job is to catch up from the jobs' stored state.

On a Redis Cluster one XREAD cannot span slots, and each queue is its own slot: the reader
then runs one read loop per queue, each with its own connection to that queue's master
(following it when a failover moves it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .._bullmq import QueueEvent, QueueKeys, decode_entry
from ..redis import REDIS_ERRORS, FastRedis, RedisTarget

log = logging.getLogger("jobcast.bridge")

Handler = Callable[[list[QueueEvent]], Awaitable[None]]

FORWARDED = frozenset({"progress", "completed", "failed", "delayed", "waiting", "removed",
                       "output", "log"})
"""Event kinds the bridge acts on; "added", "active", "drained"... are skipped."""

GAP_CHECK_S = 0.1
"""How often (at most) the reader asks whether entries it did not read were trimmed."""


class EventStreamReader:
    """Reads ``<prefix>:<queue>:events`` for every queue and calls ``handler`` per batch.

    ``on_connect`` runs each time the reader (re)connects, before it reads; ``on_gap`` gets the
    queues whose stream lost entries this reader had not read yet.
    """

    def __init__(
        self,
        target: RedisTarget,
        prefix: str,
        queues: list[str],
        handler: Handler,
        *,
        on_connect: Callable[[], Awaitable[None]] | None = None,
        on_gap: Callable[[list[str]], Awaitable[None]] | None = None,
        batch: int = 500,
        block_ms: int = 5000,
    ) -> None:
        self._target = target
        self._streams = {QueueKeys(prefix, q, tagged=target.cluster).events: q for q in queues}
        self._handler = handler
        self._on_connect = on_connect
        self._on_gap = on_gap
        self._batch = batch
        self._block_ms = block_ms
        self._last_ids: dict[str, str] = {}
        self.kinds = FORWARDED
        """The event kinds handed on (the dashboard adds those it shows: added, active, ...)."""
        self._checked: dict[int, float] = {}
        """When each read loop last looked for a gap."""
        self._groups_connected: set[int] = set()
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.resyncs = 0
        """How often a gap was found and the watched jobs caught up from their stored state."""
        self.newest_ms = 0
        """When the newest event read was written (its stream id's time), for the bridge's lag."""

    async def run(self) -> None:
        """Read until cancelled; a Redis error only pauses it."""
        streams = list(self._streams)
        groups = [[stream] for stream in streams] if self._target.cluster else [streams]
        self._groups_connected.clear()
        loops = [asyncio.ensure_future(self._run_group(n, group, len(groups)))
                 for n, group in enumerate(groups)]
        try:
            await asyncio.gather(*loops)
        finally:
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    async def _run_group(self, number: int, streams: list[str], groups: int) -> None:
        """One blocking read loop over ``streams`` (all of them, or one queue's on a cluster)."""
        delay = 0.1
        while True:
            redis = FastRedis(self._target)  # its own connection: XREAD BLOCK holds it
            try:
                await self._resume_points(redis, streams)
                if self._on_connect is not None:
                    try:
                        await self._on_connect()
                    except Exception as err:  # noqa: BLE001 - preparing is best effort
                        log.warning("event stream: preparing the queues failed: %s", err)
                self._checked.pop(number, None)  # a gap check at once: an outage may make one
                self._groups_connected.add(number)
                if len(self._groups_connected) == groups:
                    self.connected.set()
                delay = 0.1
                await self._read_forever(redis, streams, number)
            except (TimeoutError, *REDIS_ERRORS) as err:
                if self.connected.is_set():
                    log.warning("event stream: Redis unreachable (%s); resuming when it is back",
                                err)
                self._groups_connected.discard(number)
                self.connected.clear()
                self.reconnects += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                await redis.aclose()

    async def _resume_points(self, redis: FastRedis, streams: list[str]) -> None:
        """Where to read from: our last id, or the stream's end the first time.

        If a stream's newest id is older than ours, Redis lost its data (a restart without
        persistence): read that stream from the start rather than wait for ids we passed.
        """
        newest = await redis.pipeline(
            *[("XREVRANGE", stream, "+", "-", "COUNT", 1) for stream in streams])
        for reply in newest:
            if isinstance(reply, Exception):
                raise reply
        for stream, entries in zip(streams, newest, strict=True):
            top = entries[0][0] if entries else "0-0"
            mine = self._last_ids.get(stream)
            if mine is None:
                self._last_ids[stream] = top
            elif _id_tuple(top) < _id_tuple(mine):
                log.warning("event stream %s went back in time; reading it from the start", stream)
                self._last_ids[stream] = "0-0"
                await self._gap([self._streams[stream]])

    async def _read_forever(self, redis: FastRedis, streams: list[str], number: int) -> None:
        # A silent, half-open connection must not hang the bridge: XREAD answers within
        # block_ms even when nothing happens.
        deadline = self._block_ms / 1000 + 10
        while True:
            ids = [self._last_ids[s] for s in streams]
            check = time.monotonic() - self._checked.get(number, 0.0) >= GAP_CHECK_S
            infos = [("XINFO", "STREAM", s) for s in streams] if check else []
            async with asyncio.timeout(deadline):
                replies = await redis.pipeline(
                    *infos, ("XREAD", "COUNT", self._batch, "BLOCK", self._block_ms,
                             "STREAMS", *streams, *ids))
            reply = replies[-1]
            if isinstance(reply, Exception):
                raise reply
            gaps: list[str] = []
            if check:
                self._checked[number] = time.monotonic()
                gaps = [self._streams[s] for s, info, last in zip(streams, replies, ids,
                                                                   strict=False)
                        if _trimmed_past(info, last)]
            if reply:
                await self._deliver(reply)
            if gaps:
                await self._gap(gaps)

    async def _deliver(self, reply: list[Any]) -> None:
        batch: list[QueueEvent] = []
        for stream, entries in reply:
            queue = self._streams[stream]
            for _entry_id, flat in entries:
                event = decode_entry(queue, flat, self.kinds)
                if event is not None:
                    batch.append(event)
            self._last_ids[stream] = entries[-1][0]
            self.newest_ms = max(self.newest_ms, _id_tuple(entries[-1][0])[0])
        if batch:
            try:
                await self._handler(batch)
            except Exception:  # a bug in one emit must not stop the bridge
                log.exception("event handler failed")

    async def _gap(self, queues: list[str]) -> None:
        self.resyncs += 1
        log.warning("event stream of %s: entries this process had not read were trimmed "
                    "(it fell behind); catching its sockets up from the jobs' state",
                    ", ".join(queues))
        if self._on_gap is not None:
            try:
                await self._on_gap(queues)
            except Exception:  # the next gap check tries again
                log.exception("catching up after a gap failed")


def _trimmed_past(info: Any, last_id: str) -> bool:
    """Whether an entry newer than ``last_id`` is gone from the stream (XINFO STREAM's reply).

    Redis 7 says which entry was deleted last; before 7 only the first entry left is known (a
    first entry newer than ours may be a gap or the very next one: caught up either way).
    """
    if not isinstance(info, list):
        return False  # no such stream yet, or XINFO refused: nothing to compare
    fields = dict(zip(info[::2], info[1::2], strict=False))
    deleted = fields.get("max-deleted-entry-id")
    if isinstance(deleted, str):
        return deleted != "0-0" and _id_tuple(deleted) > _id_tuple(last_id)
    first = fields.get("first-entry")
    return isinstance(first, list) and bool(first) and _id_tuple(first[0]) > _id_tuple(last_id)


def _id_tuple(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)

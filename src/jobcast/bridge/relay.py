"""The bridge's emitting side: queue events become Socket.IO events for the sockets watching
those jobs, through the ledger (which knows who may see what, and what each already has)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .. import names
from .._bullmq import QueueEvent
from ..errors import QueueUnavailable
from ..queue import JobQueue
from .ledger import Delivery, Ledger

log = logging.getLogger("jobcast.bridge")

Send = Callable[[Delivery], Awaitable[None]]


class Relay:
    """Example usage::

        relay = Relay(ledger, queue, send)
        reader = EventStreamReader(..., handler=relay.on_events)
    """

    def __init__(self, ledger: Ledger, queue: JobQueue, send: Send) -> None:
        self.ledger = ledger
        self.queue = queue
        self.send = send

    async def deliver(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            await self.send(delivery)

    async def on_events(self, batch: list[QueueEvent]) -> None:
        """Forward a batch of stream events to the sockets watching those jobs."""
        watched = [e for e in batch if self.ledger.watchers(e.job_id)]
        if not watched:
            return
        states = await self._final_states(watched)
        for event in watched:
            if event.kind in ("delayed", "waiting"):
                if event.kind == "delayed" or event.prev in ("failed", "active"):
                    await self._retrying(event)
                continue
            await self.deliver(self.ledger.on_event(event, states.get((event.queue,
                                                                       event.job_id))))

    async def resync(self, queues: list[str]) -> None:
        """After a gap in these queues' streams: every watched job of theirs catches up from its
        stored state (terminal events still exactly once per join, progress never down)."""
        wanted = set(queues)
        jobs = self.ledger.watched_jobs()
        statuses = await asyncio.gather(*(self.queue.status(j) for j in jobs),
                                        return_exceptions=True)
        for job_id, status in zip(jobs, statuses, strict=True):
            if status is None or isinstance(status, BaseException):
                continue
            queue = self.queue.queue_of(status)
            if queue in wanted:
                await self.deliver(self.ledger.catch_up(job_id, status, queue))

    async def _final_states(self, events: list[QueueEvent]) -> dict[tuple[str, str], str]:
        """What the stream does not say: which failed or removed jobs were cancelled."""
        ends = [e for e in events if e.kind in ("failed", "removed")]
        if not ends:
            return {}
        commands: list[tuple[Any, ...]] = []
        for e in ends:
            keys = self.queue.keys.get(e.queue)
            if e.kind == "failed" and keys is not None:
                commands.append(("HGET", keys.job(e.job_id), names.STATE_FIELD))
            else:
                commands.append(("EXISTS", names.cancel_key(e.queue, e.job_id)))
        try:
            replies = await self.queue.fast.pipeline(*commands)
        except Exception as err:  # noqa: BLE001 - the events still go out, as failures
            log.warning("could not tell cancellations from failures (%s)", err)
            return {}
        states: dict[tuple[str, str], str] = {}
        for event, reply in zip(ends, replies, strict=True):
            if reply == names.CANCELLED or reply == 1:
                states[(event.queue, event.job_id)] = names.CANCELLED
        return states

    async def _retrying(self, event: QueueEvent) -> None:
        """The job will run again (a failed attempt's retry, or a re-run after its worker
        stopped): say so, and let the next run's progress show from 0."""
        try:
            status = await self.queue.status(event.job_id)
        except QueueUnavailable:
            return
        if status is None or status.state.is_terminal:
            return
        if event.kind == "delayed" and status.attempts_made == 0:
            return  # added with a delay: its first run is still to come, nothing to retry
        reason: str | None = "its worker stopped; running it again"
        if event.prev != "active":
            reason = await self.queue.last_reason(status)
        payload = {"jobId": event.job_id, "attempt": status.attempts_made + 1, "reason": reason}
        await self.deliver(self.ledger.retrying(event.job_id, payload))

"""The bridge's emitting side: queue events become Socket.IO events for the sockets watching
those jobs, through the ledger (which knows who may see what, and what each already has)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .. import names, tracing
from .._bullmq import QueueEvent
from ..errors import QueueUnavailable
from ..output import KINDS
from ..queue import JobQueue
from .ledger import Delivery, Ledger

log = logging.getLogger("jobcast.bridge")

Send = Callable[[Delivery], Awaitable[None]]


class Relay:
    """Example usage::

        relay = Relay(ledger, queue, send)
        reader = EventStreamReader(..., handler=relay.on_events)
    """

    GAP_RETRY_S = 0.5

    def __init__(self, ledger: Ledger, queue: JobQueue, send: Send) -> None:
        self.ledger = ledger
        self.queue = queue
        self.send = send
        self._gap_retry: asyncio.TimerHandle | None = None

    async def deliver(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            await self.send(delivery)

    async def on_events(self, batch: list[QueueEvent]) -> None:
        """Forward a batch of stream events to the sockets watching those jobs."""
        watched = []
        placed = self.queue.placed  # the jobs this process added lately: their socket is near
        for event in batch:
            if self.ledger.watchers(event.job_id):
                watched.append(event)
            elif event.job_id in placed:
                self.ledger.unwatched(event)
        if not watched:
            return
        states = await self._final_states(watched)
        traces = await self._trace_contexts(watched) if tracing.active() else {}
        for event in watched:
            if event.kind in ("delayed", "waiting"):
                if event.kind == "delayed" or event.prev in ("failed", "active"):
                    await self._retrying(event)
                continue
            deliveries = self.ledger.on_event(event, states.get((event.queue, event.job_id)))
            if id(event) in traces and deliveries:
                with tracing.span(f"emit {deliveries[0].event}", tracing.PRODUCER,
                                  parent=traces[id(event)],
                                  attributes={"messaging.batch.message_count": len(deliveries),
                                              "jobcast.job.id": event.job_id}):
                    await self.deliver(deliveries)
            else:
                await self.deliver(deliveries)
        if self.ledger.entry_gaps:
            await self._fill_gaps()

    async def _fill_gaps(self) -> None:
        """Output or log entries trimmed from the stream before a socket got them: read them
        from where they are kept, and give each socket those it lacks, in order."""
        gaps, self.ledger.entry_gaps = self.ledger.entry_gaps, set()
        for job_id, kind in gaps:
            try:
                status = await self.queue.status(job_id)
                stored = [] if status is None else (await self.queue.entries(
                    status, kind, self.ledger.lowest_seq(job_id, kind)))[0]
            except QueueUnavailable:
                self.ledger.entry_gaps.add((job_id, kind))
                self._retry_gaps()  # the stream may stay quiet: do not wait for its next event
                continue
            # (a job gone meanwhile has nothing to read back: its waiting events go out)
            await self.deliver(self.ledger.entries(job_id, kind, stored))

    def _retry_gaps(self) -> None:
        def fire() -> None:
            self._gap_retry = None
            if self.ledger.entry_gaps:
                asyncio.ensure_future(self._fill_gaps())

        if self._gap_retry is None:
            self._gap_retry = asyncio.get_running_loop().call_later(self.GAP_RETRY_S, fire)

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
            if queue not in wanted:
                continue
            entries = {}
            for kind in KINDS:
                try:
                    entries[kind], _ = await self.queue.entries(
                        status, kind, self.ledger.lowest_seq(job_id, kind))
                except QueueUnavailable:
                    entries[kind] = []
            await self.deliver(self.ledger.catch_up(job_id, status, queue, entries))

    async def _trace_contexts(self, events: list[QueueEvent]) -> dict[int, str]:
        """The worker's trace context of each job that ended (the job hash's ``tm``), by the
        event's id()."""
        ends = [e for e in events if e.kind in ("completed", "failed")
                and e.queue in self.queue.keys]
        if not ends:
            return {}
        try:
            replies = await self.queue.fast.pipeline(
                *[("HGET", self.queue.keys[e.queue].job(e.job_id), "tm") for e in ends])
        except Exception:  # noqa: BLE001 - a trace is never worth an event
            return {}
        return {id(e): r for e, r in zip(ends, replies, strict=True) if isinstance(r, str)}

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

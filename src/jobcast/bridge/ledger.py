"""What each socket may see and has seen, per job: the bookkeeping behind "exactly once".

Two sources reach a socket for a job: the snapshot read when it joins, and the live events from
the stream. They race, so this ledger decides, with no I/O of its own:
- a socket enters a job's room *before* its state is read, and the live events that arrive
  meanwhile are held until the join is decided (allowed: delivered after the snapshot;
  refused: dropped, so a refused socket never sees a byte of the job);
- each join gets the job's terminal event exactly once (from the snapshot or live, whichever
  comes first), and the socket leaves the room after it;
- progress sent to a socket never goes down (until a new attempt starts from 0).
Everything it returns is a list of Deliveries for the caller to send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .._bullmq import QueueEvent
from ..names import CANCELLED, event_name
from ..status import JobState, JobStatus

HELD_PER_JOIN = 256
"""Live events kept for a join that is still being decided; beyond that the oldest progress
goes (the snapshot, read after entering the room, is at least as new)."""


class Delivery(NamedTuple):
    eio_sid: str
    event: str
    payload: dict[str, Any]


@dataclass
class Watch:
    """One socket watching one job."""

    queue: str | None = None
    name: str | None = None
    """The job's name, the prefix of its events (known once the join is allowed)."""
    admitted: bool = False
    progress: float = -1.0
    ended: bool = False
    """Its terminal event went out in this join."""
    held: list[tuple[QueueEvent, str | None]] = field(default_factory=list)


@dataclass
class SocketBook:
    eio_sid: str
    client: Any
    """Who the socket is (the access hook's view), kept for the joins to come."""
    watches: dict[str, Watch] = field(default_factory=dict)


class JoinRefused(Exception):
    """A join the ledger itself refuses (too many rooms), with the message for the ack."""


class Ledger:
    """Example usage::

        ledger.connect("s1", "e1", client)
        ledger.begin_join("s1", job_id)            # in the room, live events held
        status = ...                               # read the job, check access
        deliveries = ledger.finish_join("s1", job_id, status)   # or None: refused
        deliveries += ledger.on_event(event)
    """

    def __init__(self, rooms_per_socket: int,
                 name_of: Callable[[str], str] = lambda queue: queue) -> None:
        self.rooms_per_socket = rooms_per_socket
        self.name_of = name_of
        """A queue's event prefix, for a job watched before it existed."""
        self._sockets: dict[str, SocketBook] = {}
        self._watchers: dict[str, set[str]] = {}

    # -- sockets ---------------------------------------------------------------------------

    def connect(self, sid: str, eio_sid: str, client: Any) -> SocketBook:
        book = SocketBook(eio_sid, client)
        self._sockets[sid] = book
        return book

    def disconnect(self, sid: str) -> None:
        book = self._sockets.pop(sid, None)
        if book is not None:
            for job_id in book.watches:
                self._unwatch(sid, job_id)

    def book(self, sid: str) -> SocketBook | None:
        return self._sockets.get(sid)

    @property
    def socket_count(self) -> int:
        return len(self._sockets)

    @property
    def room_count(self) -> int:
        return len(self._watchers)

    def watched_jobs(self) -> list[str]:
        return list(self._watchers)

    def watchers(self, job_id: str) -> set[str]:
        return self._watchers.get(job_id, set())

    # -- joins -----------------------------------------------------------------------------

    def begin_join(self, sid: str, job_id: str) -> None:
        """Enter the job's room before its state is read; events from now on are kept."""
        book = self._sockets[sid]
        watch = book.watches.get(job_id)
        if watch is None:
            if len(book.watches) >= self.rooms_per_socket:
                raise JoinRefused(f"too many rooms (at most {self.rooms_per_socket})")
            book.watches[job_id] = Watch()
            self._watchers.setdefault(job_id, set()).add(sid)
        else:
            watch.admitted = False  # a join again: decided afresh, held until then
        book.watches[job_id].ended = False  # exactly once per join, not once per connection

    def finish_join(self, sid: str, job_id: str, status: JobStatus | None,
                    queue: str | None = None, unknown: bool = False) -> list[Delivery]:
        """The join is decided: ``status`` is the job as read after entering (None: refused,
        or with ``unknown``, admitted to wait for a job a producer has not added yet).
        Returns the snapshot's delivery, then those of the events held meanwhile."""
        book = self._sockets.get(sid)
        watch = book.watches.get(job_id) if book is not None else None
        if book is None or watch is None:
            return []  # disconnected or left meanwhile
        if status is None and not unknown:
            self._drop(sid, book, job_id)
            return []
        watch.admitted = True
        out: list[Delivery] = []
        if status is None:
            pass  # nothing to show yet: its first event will name it
        elif status.state is JobState.COMPLETED:
            watch.queue, watch.name = queue, status.job
            out += self._terminal(sid, book, job_id, "completed",
                                  {"jobId": job_id, "result": status.result,
                                   "state": "completed"})
        elif status.state.is_terminal:
            watch.queue, watch.name = queue, status.job
            out += self._terminal(sid, book, job_id, "failed",
                                  {"jobId": job_id, "reason": status.reason or CANCELLED,
                                   "state": status.state.value})
        else:
            watch.queue, watch.name = queue, status.job
            out += self._progress(book, watch, job_id, status.progress)
        held, watch.held = watch.held, []
        for event, state in held:
            out += self._deliver(sid, book, event, state)
        return out

    def leave(self, sid: str, job_id: str) -> None:
        book = self._sockets.get(sid)
        if book is not None and job_id in book.watches:
            self._drop(sid, book, job_id)

    # -- live events -----------------------------------------------------------------------

    def on_event(self, event: QueueEvent, state: str | None = None) -> list[Delivery]:
        """A stream event: deliveries for the admitted watchers, held for the deciding ones.
        ``state`` is the final state of a terminal event ("cancelled" when the caller knows)."""
        sids = self._watchers.get(event.job_id)
        if not sids:
            return []
        out: list[Delivery] = []
        for sid in list(sids):
            book = self._sockets.get(sid)
            watch = book.watches.get(event.job_id) if book is not None else None
            if book is None or watch is None:
                continue
            if not watch.admitted:
                watch.held.append((event, state))
                if len(watch.held) > HELD_PER_JOIN:
                    _drop_oldest_progress(watch.held)
            else:
                out += self._deliver(sid, book, event, state)
        return out

    def retrying(self, job_id: str, payload: dict[str, Any]) -> list[Delivery]:
        """A new attempt starts: say so to the admitted watchers; its progress starts at 0."""
        out: list[Delivery] = []
        for sid in list(self._watchers.get(job_id, ())):
            book = self._sockets.get(sid)
            watch = book.watches.get(job_id) if book is not None else None
            if book is None or watch is None or not watch.admitted or watch.name is None:
                continue
            watch.progress = -1.0
            out.append(Delivery(book.eio_sid, event_name(watch.name, "retrying"), payload))
        return out

    def catch_up(self, job_id: str, status: JobStatus, queue: str | None) -> list[Delivery]:
        """What the admitted watchers of a job missed, from its stored state (after a gap in
        the stream): its end, once per join, or its progress if higher than they have."""
        out: list[Delivery] = []
        for sid in list(self._watchers.get(job_id, ())):
            book = self._sockets.get(sid)
            watch = book.watches.get(job_id) if book is not None else None
            if book is None or watch is None or not watch.admitted:
                continue
            if watch.queue is not None and queue is not None and watch.queue != queue:
                continue  # a same-id job of another queue
            if watch.name is None:
                watch.queue, watch.name = queue, status.job
            if status.state is JobState.COMPLETED:
                out += self._terminal(sid, book, job_id, "completed",
                                      {"jobId": job_id, "result": status.result,
                                       "state": "completed"})
            elif status.state.is_terminal:
                out += self._terminal(sid, book, job_id, "failed",
                                      {"jobId": job_id, "reason": status.reason or CANCELLED,
                                       "state": status.state.value})
            else:
                out += self._progress(book, watch, job_id, status.progress)
        return out

    def admitted_names(self, job_id: str) -> set[str]:
        """The names the job is known by to its admitted watchers (for events of it)."""
        names: set[str] = set()
        for sid in self._watchers.get(job_id, ()):
            book = self._sockets.get(sid)
            watch = book.watches.get(job_id) if book is not None else None
            if watch is not None and watch.admitted and watch.name:
                names.add(watch.name)
        return names

    # -- internals -------------------------------------------------------------------------

    def _deliver(self, sid: str, book: SocketBook, event: QueueEvent,
                 state: str | None) -> list[Delivery]:
        watch = book.watches.get(event.job_id)
        if watch is None or (watch.queue is not None and watch.queue != event.queue):
            return []  # not watching any more, or a same-id job of another queue
        if watch.name is None:  # watched before it existed: its first event names it
            watch.queue, watch.name = event.queue, self.name_of(event.queue)
        kind = event.kind
        if kind == "progress":
            return self._progress(book, watch, event.job_id, event.progress)
        if kind == "completed":
            return self._terminal(sid, book, event.job_id, "completed",
                                  {"jobId": event.job_id, "result": event.result,
                                   "state": "completed"})
        if kind in ("failed", "removed"):
            reason = event.reason if kind == "failed" else (
                CANCELLED if state == CANCELLED else "the job was removed")
            return self._terminal(sid, book, event.job_id, "failed",
                                  {"jobId": event.job_id, "reason": reason,
                                   "state": state or "failed"})
        return []

    def _progress(self, book: SocketBook, watch: Watch, job_id: str,
                  value: Any) -> list[Delivery]:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or watch.name is None:
            return []
        if value <= watch.progress:
            return []  # it would go backwards (or repeat)
        watch.progress = value
        return [Delivery(book.eio_sid, event_name(watch.name, "progress"),
                         {"jobId": job_id, "progress": value})]

    def _terminal(self, sid: str, book: SocketBook, job_id: str, kind: str,
                  payload: dict[str, Any]) -> list[Delivery]:
        watch = book.watches.get(job_id)
        if watch is None or watch.ended or watch.name is None:
            return []
        watch.ended = True
        name = watch.name
        self._drop(sid, book, job_id)  # the socket leaves the room after the end
        return [Delivery(book.eio_sid, event_name(name, kind), payload)]

    def _drop(self, sid: str, book: SocketBook, job_id: str) -> None:
        book.watches.pop(job_id, None)
        self._unwatch(sid, job_id)

    def _unwatch(self, sid: str, job_id: str) -> None:
        sids = self._watchers.get(job_id)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                del self._watchers[job_id]


def _drop_oldest_progress(held: list[tuple[QueueEvent, str | None]]) -> None:
    for i, (event, _) in enumerate(held):
        if event.kind == "progress":
            del held[i]
            return
    del held[0]


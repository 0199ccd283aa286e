"""What each socket may see and has seen, per job: the bookkeeping behind "exactly once".

Two sources reach a socket for a job: the snapshot read when it joins, and the live events from
the stream. They race, so this ledger decides, with no I/O of its own:
- a socket enters a job's room *before* its state is read, and the live events that arrive
  meanwhile are held until the join is decided (allowed: delivered after the snapshot;
  refused: dropped, so a refused socket never sees a byte of the job);
- each join gets the job's terminal event exactly once (from the snapshot or live, whichever
  comes first), and the socket leaves the room after it;
- progress sent to a socket never goes down (until a new attempt starts from 0);
- the progress of a job nobody watches yet, if the caller asks (the jobs its process just
  added: their socket joins next), is kept for its first watcher, so a join that lands after
  the first steps still sees every step, not only the latest value;
- output chunks and log lines reach each socket in order, each once: a socket says what it
  has (``after``), the snapshot fills in the rest, live entries continue from there, and a gap
  (entries trimmed from the stream) is reported so the caller can read them from storage;
  until it has, the socket's later events (its job's end too) wait, so nothing overtakes.
Everything it returns is a list of Deliveries for the caller to send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .._bullmq import QueueEvent
from ..names import CANCELLED, event_name
from ..output import KINDS, Entry
from ..status import JobState, JobStatus, progress_details, progress_value

HELD_PER_JOIN = 1024
"""Live events kept for a join that is still being decided; beyond that the oldest progress
goes (the snapshot, read after entering the room, is at least as new)."""


EARLY_JOBS = 1024
EARLY_PER_JOB = 16
"""Bounds of the progress kept for first watchers: jobs (oldest forgotten first: at 1,000
jobs/s that is a second of them) and values per job (oldest dropped first; the snapshot has
the latest anyway)."""
RESTARTS = frozenset({"removed", "delayed", "waiting"})
"""Events after which a job's earlier progress means nothing to a new watcher (it is gone, or
a new attempt starts from 0). Its end does not: a socket that joins a job just finished gets
its steps, then the end."""


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
    message: str | None = None
    ended: bool = False
    """Its terminal event went out in this join."""
    seqs: dict[str, int] = field(default_factory=lambda: {kind: -1 for kind in KINDS})
    """The last output chunk and log line this socket has, by seq."""
    held: list[tuple[QueueEvent, str | None]] = field(default_factory=list)
    gaps: set[str] = field(default_factory=set)
    """Kinds whose entries skipped ahead: events wait in ``held`` until they are read back."""


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
        self._early: dict[str, list[QueueEvent]] = {}
        """Progress of jobs nobody watched when it came, kept for their next watcher."""
        self.entry_gaps: set[tuple[str, str]] = set()
        """(job id, kind) whose live entries skipped some: the caller reads them and calls
        entries(); it clears what it handled."""

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

    def begin_join(self, sid: str, job_id: str, after: dict[str, int] | None = None) -> None:
        """Enter the job's room before its state is read; events from now on are kept.
        ``after`` is what the socket already has ({"output": seq, "log": seq})."""
        book = self._sockets[sid]
        watch = book.watches.get(job_id)
        if watch is None:
            if len(book.watches) >= self.rooms_per_socket:
                raise JoinRefused(f"too many rooms (at most {self.rooms_per_socket})")
            watch = book.watches[job_id] = Watch()
            watch.held = [(event, None) for event in self._early.pop(job_id, ())]
            self._watchers.setdefault(job_id, set()).add(sid)
        else:
            watch.admitted = False  # a join again: decided afresh, held until then
        watch.ended = False  # exactly once per join, not once per connection
        for kind, seq in (after or {}).items():
            if kind in watch.seqs:
                watch.seqs[kind] = seq

    def finish_join(self, sid: str, job_id: str, status: JobStatus | None,
                    queue: str | None = None, unknown: bool = False,
                    entries: dict[str, list[Entry]] | None = None) -> list[Delivery]:
        """The join is decided: ``status`` is the job as read after entering (None: refused,
        or with ``unknown``, admitted to wait for a job a producer has not added yet), and
        ``entries`` its stored output and log. Returns, in order: the entries the socket does
        not have, the events held meanwhile (every progress change since it entered the room),
        then what the snapshot adds to them (a newer progress, the end if none came)."""
        book = self._sockets.get(sid)
        watch = book.watches.get(job_id) if book is not None else None
        if book is None or watch is None:
            return []  # disconnected or left meanwhile
        if status is None and not unknown:
            self._drop(sid, book, job_id)
            return []
        watch.admitted = True
        out: list[Delivery] = []
        if status is not None:
            watch.queue, watch.name = queue, status.job
            for kind, stored in (entries or {}).items():
                out += self._entries(book, watch, job_id, kind, stored)
        watch.gaps.clear()  # the stored entries just read cover any gap before them
        out += self._release(sid, book, job_id, watch)
        if status is not None and book.watches.get(job_id) is watch:
            out += self._snapshot(sid, book, watch, job_id, status)
        return out

    def leave(self, sid: str, job_id: str) -> None:
        book = self._sockets.get(sid)
        if book is not None and job_id in book.watches:
            self._drop(sid, book, job_id)

    def sequence(self, sid: str, job_id: str) -> dict[str, int]:
        """What the socket has of a job's output and log."""
        book = self._sockets.get(sid)
        watch = book.watches.get(job_id) if book is not None else None
        return dict(watch.seqs) if watch is not None else {}

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
            if not watch.admitted or watch.gaps:
                watch.held.append((event, state))
                if len(watch.held) > HELD_PER_JOIN:
                    _drop_oldest_progress(watch.held)
            else:
                out += self._deliver(sid, book, event, state)
        return out

    def unwatched(self, event: QueueEvent) -> None:
        """An event of a job nobody here watches, whose progress is worth keeping for its
        first watcher (held like the events that arrive during its join)."""
        if event.kind == "progress":
            early = self._early.get(event.job_id)
            if early is None:
                if len(self._early) >= EARLY_JOBS:
                    del self._early[next(iter(self._early))]
                early = self._early[event.job_id] = []
            early.append(event)
            if len(early) > EARLY_PER_JOB:
                del early[0]
        elif event.kind in RESTARTS:
            self._early.pop(event.job_id, None)

    def retrying(self, job_id: str, payload: dict[str, Any]) -> list[Delivery]:
        """A new attempt starts: say so to the admitted watchers; its progress starts at 0."""
        out: list[Delivery] = []
        for _, book, watch in self._admitted(job_id):
            if watch.name is None:
                continue
            watch.progress = -1.0
            out.append(Delivery(book.eio_sid, event_name(watch.name, "retrying"), payload))
        return out

    def catch_up(self, job_id: str, status: JobStatus, queue: str | None,
                 entries: dict[str, list[Entry]] | None = None) -> list[Delivery]:
        """What the admitted watchers of a job missed, from its stored state (after a gap in
        the stream): entries they lack, then its end (once per join) or its progress."""
        out: list[Delivery] = []
        for sid, book, watch in self._admitted(job_id):
            if watch.queue is not None and queue is not None and watch.queue != queue:
                continue  # a same-id job of another queue
            if watch.name is None:
                watch.queue, watch.name = queue, status.job
            for kind, stored in (entries or {}).items():
                out += self._entries(book, watch, job_id, kind, stored)
                watch.gaps.discard(kind)
            out += self._snapshot(sid, book, watch, job_id, status)
            out += self._release(sid, book, job_id, watch)
        return out

    def entries(self, job_id: str, kind: str, stored: list[Entry]) -> list[Delivery]:
        """Stored entries read after a gap (none: the job is gone): each admitted watcher gets
        those it lacks, then the events that waited for them."""
        out: list[Delivery] = []
        for sid, book, watch in self._admitted(job_id):
            out += self._entries(book, watch, job_id, kind, stored)
            watch.gaps.discard(kind)
            _accept_what_is_gone(watch, kind)
            out += self._release(sid, book, job_id, watch)
        return out

    def lowest_seq(self, job_id: str, kind: str) -> int:
        """The lowest seq an admitted watcher of the job has (what to read from storage)."""
        return min((w.seqs[kind] for _, _, w in self._admitted(job_id)), default=-1)

    # -- internals -------------------------------------------------------------------------

    def _admitted(self, job_id: str) -> Iterable[tuple[str, SocketBook, Watch]]:
        for sid in list(self._watchers.get(job_id, ())):
            book = self._sockets.get(sid)
            watch = book.watches.get(job_id) if book is not None else None
            if book is not None and watch is not None and watch.admitted:
                yield sid, book, watch

    def _snapshot(self, sid: str, book: SocketBook, watch: Watch, job_id: str,
                  status: JobStatus) -> list[Delivery]:
        if status.state is JobState.COMPLETED:
            return self._terminal(sid, book, job_id, "completed",
                                  {"jobId": job_id, "result": status.result,
                                   "state": "completed"})
        if status.state.is_terminal:
            return self._terminal(sid, book, job_id, "failed",
                                  {"jobId": job_id, "reason": status.reason or CANCELLED,
                                   "state": status.state.value})
        return self._progress(book, watch, job_id, status.progress, status.message, status.eta)

    def _deliver(self, sid: str, book: SocketBook, event: QueueEvent,
                 state: str | None) -> list[Delivery]:
        watch = book.watches.get(event.job_id)
        if watch is None or (watch.queue is not None and watch.queue != event.queue):
            return []  # not watching any more, or a same-id job of another queue
        if watch.name is None:  # watched before it existed: its first event names it
            watch.queue, watch.name = event.queue, self.name_of(event.queue)
        kind = event.kind
        if kind == "progress":
            reported = event.progress
            message, eta = progress_details(reported)
            return self._progress(book, watch, event.job_id, progress_value(reported), message,
                                  eta, isinstance(reported, (int, float, dict)))
        if kind in KINDS:
            seq = _int(event.fields.get("seq"))
            if seq > watch.seqs[kind] + 1:  # entries this socket lacks were trimmed away
                self.entry_gaps.add((event.job_id, kind))
                watch.gaps.add(kind)
                watch.held.insert(0, (event, state))  # first in line once they are read back
                return []
            return self._entries(book, watch, event.job_id, kind,
                                 [Entry(seq, event.fields.get("text", ""))])
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

    def _release(self, sid: str, book: SocketBook, job_id: str, watch: Watch) -> list[Delivery]:
        """The events held for a join or a gap, in order, until a new gap stops them (or the
        job's end: the socket has left, what follows is dropped)."""
        out: list[Delivery] = []
        while watch.held and not watch.gaps and book.watches.get(job_id) is watch:
            event, state = watch.held.pop(0)
            out += self._deliver(sid, book, event, state)
        return out

    def _entries(self, book: SocketBook, watch: Watch, job_id: str, kind: str,
                 stored: list[Entry]) -> list[Delivery]:
        if watch.name is None or watch.ended:
            return []
        field_name = "text" if kind == "output" else "line"
        out = []
        for entry in stored:
            if entry.seq <= watch.seqs[kind]:
                continue  # it has this one
            watch.seqs[kind] = entry.seq
            out.append(Delivery(book.eio_sid, event_name(watch.name, kind),
                                {"jobId": job_id, "seq": entry.seq, field_name: entry.text}))
        return out

    def _progress(self, book: SocketBook, watch: Watch, job_id: str, value: Any,
                  message: str | None = None, eta: float | None = None,
                  valid: bool = True) -> list[Delivery]:
        if not valid or not isinstance(value, (int, float)) or isinstance(value, bool) \
                or watch.name is None:
            return []
        if value < watch.progress or (value == watch.progress and message == watch.message):
            return []  # it would go backwards (or repeat)
        watch.progress, watch.message = value, message
        payload: dict[str, Any] = {"jobId": job_id, "progress": value, "eta": eta}
        if message is not None:
            payload["message"] = message
        return [Delivery(book.eio_sid, event_name(watch.name, "progress"), payload)]

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


def _int(raw: str | None) -> int:
    try:
        return int(raw or 0)
    except ValueError:
        return 0


def _accept_what_is_gone(watch: Watch, kind: str) -> None:
    """After a read-back: entries neither in storage nor in the stream (held events come in
    stream order) are gone for good (a removed job, a log trimmed to keepLogs); the next one
    held goes out rather than waiting for them forever."""
    for event, _ in watch.held:
        if event.kind == kind:
            seq = _int(event.fields.get("seq"))
            watch.seqs[kind] = max(watch.seqs[kind], seq - 1)
            return


def _drop_oldest_progress(held: list[tuple[QueueEvent, str | None]]) -> None:
    for i, (event, _) in enumerate(held):
        if event.kind == "progress":
            del held[i]
            return
    del held[0]

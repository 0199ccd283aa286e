"""The operations of queue administration (jobcast.admin's Admin): counts, pages, a job's
record, and the actions, each through BullMQ's own script."""


from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal

from redis.exceptions import RedisError

from .. import names
from .._bullmq import QueueKeys, calls, decode_json
from ..errors import QueueUnavailable
from ..ids import is_job_id
from ..output.store import list_key
from ..queue import CancelResult, CannotCancel, JobQueue
from ..redis import REDIS_ERRORS
from .errors import Invalid, NotFound, Refused
from .records import (
    DETAIL_MAX,
    PREVIEW,
    BulkResult,
    JobDetail,
    JobPage,
    JobRow,
    QueueCounts,
    Throughput,
    _bounded,
    _has_metrics,
    _int,
    _lifo,
    _listed_state,
    _metric_series,
    _row,
    _row_of,
    _tail,
)
from .search import ROWS, Search

STATES = ("waiting", "active", "delayed", "completed", "failed", "paused")
"""The states a queue's jobs are counted and listed in."""
CLEANABLE = ("waiting", "delayed", "completed", "failed", "paused")
"""States ``clean`` takes jobs out of (active jobs are cancelled, never cleaned)."""
BULK_ACTIONS: dict[str, tuple[str, ...]] = {
    "retry": ("failed",),
    "cancel": ("waiting", "active", "delayed", "paused"),
    "promote": ("delayed",),
    "remove": ("waiting", "delayed", "completed", "failed", "paused"),
}
"""What a bulk action does, and the states it may select from."""
BulkAction = Literal["retry", "cancel", "promote", "remove"]

MAX_PAGE = 200
SCAN_BUDGET = 5_000
"""A filtered page reads at most this many jobs per call, then says where to go on."""
SCAN_CHUNK = 500
CLEAN_BATCH = 1_000
"""Jobs one cleanJobsInSet call removes (Bull Board's limit): Redis is never blocked long."""
ACT_CHUNK = 250
BULK_MAX = 200_000
"""A bulk action acts on at most this many jobs per call (it says when more are left)."""
TAIL = 200
"""Output entries and log lines a job's record carries (its newest)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


class Admin:
    """Example usage::

        admin = Admin(queue)
        await admin.pause("report")
        page = await admin.jobs("report", "waiting", limit=50)
    """

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue
        self.fast = queue.fast
        self.keys: dict[str, QueueKeys] = queue.keys

    @property
    def queues(self) -> list[str]:
        return list(self.keys)

    def job_names(self, queue: str) -> list[str]:
        """The registered jobs that travel on ``queue``."""
        return [spec.name for spec in self.queue.queues.get(queue, [])]

    def _keys(self, queue: str) -> QueueKeys:
        keys = self.keys.get(queue)
        if keys is None:
            raise NotFound(f"unknown queue {queue!r}; queues: {', '.join(self.keys) or 'none'}")
        return keys

    async def _send(self, *commands: tuple[Any, ...]) -> list[Any]:
        return await self.queue._send(*commands)

    async def _run(self, call: calls.Call) -> Any:
        try:
            return await self.fast.run(*call)
        except (*REDIS_ERRORS, RedisError) as err:
            raise QueueUnavailable(f"Redis is unreachable or refused: {err}") from err

    async def _run_many(self, batch: list[calls.Call], then: Iterable[tuple[Any, ...]] = (),
                        atomic: bool = False) -> list[Any]:
        try:
            replies = await self.fast.run_many(batch, then=list(then), atomic=atomic)
        except REDIS_ERRORS as err:
            raise QueueUnavailable(f"Redis is unreachable or refused: {err}") from err
        for reply in replies:
            if isinstance(reply, OSError) or (isinstance(reply, RedisError)
                                              and not str(reply).startswith("NOSCRIPT")):
                raise QueueUnavailable(f"Redis refused: {reply}")
        return replies

    # -- counts -----------------------------------------------------------------------------------

    async def counts(self, queues: Iterable[str] | None = None) -> dict[str, QueueCounts]:
        """Jobs per state, per queue (BullMQ's getCounts), in one round trip."""
        wanted = [q for q in (queues or self.keys) if self._keys(q)]
        types = ["wait", "prioritized", "active", "delayed", "completed", "failed", "paused"]
        replies = await self._run_many([calls.get_counts(self.keys[q], types) for q in wanted],
                                       then=[("HGET", self.keys[q].meta, "paused") for q in wanted])
        found: dict[str, QueueCounts] = {}
        for i, queue in enumerate(wanted):
            wait, prioritized, active, delayed, completed, failed, legacy = (
                _int(v) for v in replies[i])
            paused = bool(replies[len(wanted) + i])
            held = wait + prioritized
            found[queue] = QueueCounts(
                queue, waiting=0 if paused else held, active=active, delayed=delayed,
                completed=completed, failed=failed, paused=legacy + (held if paused else 0),
                prioritized=prioritized, is_paused=paused)
        return found

    # -- pages ------------------------------------------------------------------------------------

    def _sources(self, keys: QueueKeys, state: str, paused: bool) -> list[tuple[str, str]]:
        """The lists and sorted sets a state's jobs are in, in the order a page shows them:
        (key, "list" | "asc" | "desc")."""
        waiting = [(keys.wait, "list"), (keys.prioritized, "asc")]
        if state == "waiting":
            return [] if paused else waiting
        if state == "paused":
            return [(keys.paused, "list"), *(waiting if paused else [])]
        if state == "active":
            return [(keys.active, "list")]
        if state == "delayed":
            return [(keys.delayed, "asc")]  # the next to run first
        if state in ("completed", "failed"):
            return [(keys.finished(state), "desc")]  # the newest first
        raise NotFound(f"unknown state {state!r}; states: {', '.join(STATES)}")

    async def _lengths(self, sources: list[tuple[str, str]]) -> list[int]:
        if not sources:
            return []
        replies = await self._send(*[("LLEN" if how == "list" else "ZCARD", key)
                                     for key, how in sources])
        return [_int(r) for r in replies]

    async def _range(self, sources: list[tuple[str, str]], lengths: list[int], start: int,
                     count: int) -> list[str]:
        """Ids ``start`` .. ``start + count - 1`` of the sources laid end to end: one bounded
        range per source it reaches, in one round trip."""
        commands: list[tuple[Any, ...]] = []
        offset = 0
        for (key, how), length in zip(sources, lengths, strict=True):
            lo, hi = max(start - offset, 0), min(start + count - offset, length) - 1
            if lo <= hi:
                verb = {"list": "LRANGE", "asc": "ZRANGE", "desc": "ZREVRANGE"}[how]
                commands.append((verb, key, lo, hi))
            offset += length
        if not commands:
            return []
        return [str(i) for reply in await self._send(*commands) for i in reply]

    async def _is_paused(self, keys: QueueKeys) -> bool:
        (flag,) = await self._send(("HGET", keys.meta, "paused"))
        return bool(flag)

    async def jobs(self, queue: str, state: str, *, name: str | None = None,
                   search: str | None = None, start: int = 0, limit: int = 25) -> JobPage:
        """A page of the jobs in ``state``: newest first (completed, failed, waiting, active),
        next to run first (delayed, prioritized).

        With ``name`` and/or ``search`` only the jobs that match, read from ``start`` on for
        at most SCAN_BUDGET jobs; ``next`` says where the next call goes on. A ``search`` that
        is the id of a job of this queue answers that job, whatever its state.
        """
        keys = self._keys(queue)
        limit = max(1, min(limit, MAX_PAGE))
        start = max(0, start)
        sources = self._sources(keys, state, await self._is_paused(keys))
        lengths = await self._lengths(sources)
        total = sum(lengths)
        query = Search.parse(search)
        if not name and query is None:
            ids = await self._range(sources, lengths, start, limit)
            end = start + limit
            return JobPage(queue, state, await self._rows(keys, ids, state), total, start,
                           end if end < total else None)
        if query is not None and is_job_id(query.text) and start == 0:
            row = await self._row_anywhere(keys, query.text, name)
            if row is not None:  # an id: that job, wherever it is
                return JobPage(queue, state, [row], total, 0, None, 1, True)
        found: list[JobRow] = []
        cursor, scanned = start, 0
        while cursor < total and scanned < SCAN_BUDGET and len(found) < limit:
            ids = await self._range(sources, lengths, cursor,
                                    min(SCAN_CHUNK, SCAN_BUDGET - scanned))
            if not ids:  # the state shrank meanwhile
                cursor = total
                break
            matches = await self._matches(keys, ids, state, name, query)
            taken = matches[:limit - len(found)]
            found += [row for _, row in taken]
            if len(taken) < len(matches):  # full within this chunk: go on after the last one
                cursor += taken[-1][0] + 1
                scanned += taken[-1][0] + 1
                break
            cursor += len(ids)
            scanned += len(ids)
        return JobPage(queue, state, found, total, start, cursor if cursor < total else None,
                       scanned, True)

    async def latest(self, queue: str, *, name: str | None = None, search: str | None = None,
                     limit: int = 50) -> JobPage:
        """The newest jobs of every state together, newest first (by when they were added):
        the first ``limit`` of each state read, merged. One page only; a state's own pages go
        further."""
        keys = self._keys(queue)
        limit = max(1, min(limit, MAX_PAGE))
        paused = await self._is_paused(keys)
        query = Search.parse(search)
        if query is not None and is_job_id(query.text):
            row = await self._row_anywhere(keys, query.text, name)
            if row is not None:
                return JobPage(queue, "latest", [row], 1, 0, None, 1, True)
        pairs = [(state, source) for state in STATES
                 for source in self._sources(keys, state, paused)]
        lengths = await self._lengths([source for _, source in pairs])
        picked = await asyncio.gather(*(self._range([source], [length], 0, limit)
                                        for (_, source), length in zip(pairs, lengths,
                                                                       strict=True)))
        found = await asyncio.gather(*(self._matches(keys, ids, state, name, query)
                                       for (state, _), ids in zip(pairs, picked, strict=True)))
        rows = [row for matches in found for _, row in matches]
        total, scanned = sum(lengths), sum(len(ids) for ids in picked)
        rows.sort(key=lambda r: (r.created_at or 0, r.id), reverse=True)
        return JobPage(queue, "latest", rows[:limit], total, 0, None, scanned,
                       bool(name) or query is not None)

    async def _fetch(self, keys: QueueKeys, ids: list[str], name: str | None,
                     search: Search | None) -> list[tuple[int, list[Any], str]]:
        """(index in ``ids``, fields, data) of the jobs that exist and match."""
        if not ids:
            return []
        exact = search is not None and bool(search.path)
        reply = await self._run((ROWS, [keys.job(i) for i in ids],
                                 [name or "", search.needle if search else "", PREVIEW,
                                  "1" if exact else "0"]))
        found = []
        for entry in reply or []:
            data = str(entry[11] or "")
            if search is not None and exact and not search.matches(data):
                continue
            found.append((int(entry[0]), entry, data[:PREVIEW]))
        return found

    async def _rows(self, keys: QueueKeys, ids: list[str], state: str) -> list[JobRow]:
        """The rows of ``ids`` that still exist, in order."""
        return [_row(keys.queue, ids[i], state, entry, preview)
                for i, entry, preview in await self._fetch(keys, ids, None, None)]

    async def _matches(self, keys: QueueKeys, ids: list[str], state: str, name: str | None,
                       search: Search | None) -> list[tuple[int, JobRow]]:
        """(index in ``ids``, row) of the jobs that match the filter."""
        return [(i, _row(keys.queue, ids[i], state, entry, preview))
                for i, entry, preview in await self._fetch(keys, ids, name, search)]

    async def _row_anywhere(self, keys: QueueKeys, job_id: str,
                            name: str | None = None) -> JobRow | None:
        state = await self._state(keys, job_id)
        if state is None:
            return None
        rows = await self._matches(keys, [job_id], state, name, None)
        return rows[0][1] if rows else None

    async def _state(self, keys: QueueKeys, job_id: str) -> str | None:
        """Where the job is, as a page lists it (None: not in this queue)."""
        found = await self._run(calls.get_state(keys, job_id))
        if found in (None, "unknown"):
            return None
        if found == "prioritized":
            found = "waiting"
        if found == "waiting" and await self._is_paused(keys):
            return "paused"
        return str(found)

    # -- one job ----------------------------------------------------------------------------------

    async def find(self, job_id: str) -> str | None:
        """The queue a job is in (None: in none)."""
        if not is_job_id(job_id):
            return None
        replies = await self._send(*[("EXISTS", k.job(job_id)) for k in self.keys.values()])
        return next((q for q, found in zip(self.keys, replies, strict=True) if found), None)

    async def job(self, queue: str | None, job_id: str) -> JobDetail | None:
        """A job's whole record: data, options, progress and its message, result or reason and
        stack, attempts, timings, the newest output and log lines, who runs it. None if the
        job is not there (a cancelled waiting job reads as its cancel record)."""
        if not is_job_id(job_id):
            return None
        queue = queue or await self.find(job_id)
        if queue is None:
            return await self._cancel_record(job_id)
        keys = self._keys(queue)
        replies = await self._run_many(
            [calls.get_state(keys, job_id)],
            then=[("HGETALL", keys.job(job_id)), ("GET", keys.lock(job_id)),
                  ("HGET", keys.meta, "paused"),
                  ("LRANGE", list_key(keys, job_id, "output"), -TAIL, -1),
                  ("LLEN", list_key(keys, job_id, "output")),
                  ("LRANGE", list_key(keys, job_id, "log"), -TAIL, -1),
                  ("LLEN", list_key(keys, job_id, "log"))])
        where, flat, lock, paused, output, output_len, logs, logs_len = replies
        if not flat:
            return await self._cancel_record(job_id)
        fields: dict[str, str] = dict(zip(flat[::2], flat[1::2], strict=True)) \
            if isinstance(flat, list) else dict(flat)
        state = _listed_state(str(where), fields, bool(paused))
        opts = decode_json(fields.get("opts"))
        opts = opts if isinstance(opts, dict) else {}
        data_raw, result_raw = fields.get("data", "null"), fields.get("returnvalue")
        stack = decode_json(fields.get("stacktrace"))
        output_total = _int(fields.get("jcoutputseq")) or _int(output_len)
        log_total = _int(fields.get("jclogseq")) or _int(logs_len)
        token = str(lock) if lock else ""
        return JobDetail(
            row=_row_of(queue, job_id, state, fields),
            data=_bounded(data_raw), data_truncated=len(data_raw) > DETAIL_MAX,
            opts=opts,
            result=_bounded(result_raw) if result_raw is not None else None,
            result_truncated=result_raw is not None and len(result_raw) > DETAIL_MAX,
            stacktrace=[str(s) for s in stack] if isinstance(stack, list) else [],
            attempts_started=_int(fields.get("ats")), stalled=_int(fields.get("stc")),
            priority=_int(fields.get("priority")), delay=_int(fields.get("delay")),
            output_count=output_total, log_count=log_total,
            output=_tail(output, output_total), logs=_tail(logs, log_total),
            worker=None if not token else
            "jobcast" if token.startswith(names.TOKEN_PREFIX) else "another BullMQ worker",
            processed_by=fields.get("pb") or None,
            parent=fields.get("parentKey") or None,
            queue_paused=bool(paused))

    async def _cancel_record(self, job_id: str) -> JobDetail | None:
        status = await self.queue.status(job_id)
        if status is None:
            return None
        return JobDetail(row=JobRow(job_id, self.queue.queue_of(status), status.job,
                                    status.state.value, created_at=status.created_at,
                                    finished_at=status.finished_at, reason=status.reason))

    async def entries(self, queue: str, job_id: str, kind: str, after: int = -1,
                      limit: int = 1000) -> tuple[list[dict[str, Any]], int]:
        """A job's output entries (``kind`` "output") or log lines ("log") with a seq after
        ``after``, at most ``limit`` of them (one bounded range), and how many were written."""
        keys = self._keys(queue)
        if kind not in ("output", "log"):
            raise Invalid(f"unknown kind {kind!r}: output or log")
        if not is_job_id(job_id):
            return [], 0
        key = list_key(keys, job_id, kind)
        written, length = await self._send(("HGET", keys.job(job_id), f"jc{kind}seq"),
                                           ("LLEN", key))
        stored = _int(length)
        total = max(_int(written), stored)
        first = total - stored  # a trimmed log keeps only its newest lines
        low = max(after + 1 - first, 0)
        if low >= stored or limit < 1:
            return [], total
        (items,) = await self._send(("LRANGE", key, low, min(low + limit, stored) - 1))
        return [{"seq": first + low + i, "text": str(t)} for i, t in enumerate(items)], total

    # -- actions on one job -----------------------------------------------------------------------

    async def retry(self, queue: str, job_id: str) -> None:
        """Run a failed (or cancelled) job again, as Bull Board's retry does (BullMQ's
        reprocessJob; attempts made are kept). jobcast's cancel marks go in the same
        transaction, so the next run is neither cancelled at once nor read as cancelled."""
        keys = self._keys(queue)
        done = await self._retry_many(keys, [job_id])
        if not done:
            raise Refused(f"job {job_id} has not failed (or is gone): only failed jobs are retried")

    async def _retry_many(self, keys: QueueKeys, ids: list[str]) -> list[str]:
        """Retry those of ``ids`` that are failed; the ids retried."""
        if not ids:
            return []
        checks = await self._send(*[c for i in ids for c in (
            ("ZSCORE", keys.failed, i), ("HGET", keys.job(i), "opts"))])
        failed = [(i, checks[2 * n + 1]) for n, i in enumerate(ids) if checks[2 * n] is not None]
        if not failed:
            return []
        batch = [calls.reprocess_job(keys, i, "failed", _lifo(opts)) for i, opts in failed]
        then = [c for i, _ in failed for c in (("DEL", names.cancel_key(keys.queue, i)),
                                               ("HDEL", keys.job(i), names.STATE_FIELD))]
        replies = await self._run_many(batch, then=then, atomic=True)
        return [i for (i, _), reply in zip(failed, replies, strict=False) if reply == 1]

    async def cancel(self, job_id: str, wait_s: float = 5.0, *,
                     queue: str | None = None) -> CancelResult:
        """Stop a job (JobQueue.cancel: a waiting one is removed, a running one is stopped by
        its worker); NotFound if there is no such job (in ``queue``, when given: whoever was
        allowed to act on one queue must not stop a job of another by its id), Refused if
        another BullMQ worker runs it."""
        if queue is not None:
            self._keys(queue)  # an unknown queue is NotFound
            if await self.find(job_id) != queue:
                raise NotFound(f"no job {job_id} in queue {queue!r}")
        try:
            result = await self.queue.cancel(job_id, wait_s)
        except CannotCancel as err:
            raise Refused(str(err)) from None
        if result is None:
            raise NotFound(f"no job {job_id}")
        return result

    async def promote(self, queue: str, job_id: str) -> None:
        """Run a delayed job now (BullMQ's promote)."""
        code = await self._run(calls.promote(self._keys(queue), job_id))
        if code != 0:
            raise Refused(f"job {job_id} is not delayed: only delayed jobs are promoted")

    async def remove(self, queue: str, job_id: str) -> None:
        """Delete a job that is not running, and its logs (BullMQ's removeJob)."""
        keys = self._keys(queue)
        (exists,) = await self._send(("EXISTS", keys.job(job_id)))
        if not exists:
            raise NotFound(f"no job {job_id} in queue {queue!r}")
        removed = await self._run(calls.remove_job(keys, job_id))
        if removed == -8:
            raise Refused(f"job {job_id} is a job scheduler's next run: remove the scheduler")
        if removed != 1:
            raise Refused(f"job {job_id} is running: cancel it instead")

    # -- actions on a queue -----------------------------------------------------------------------

    async def pause(self, queue: str) -> None:
        """Workers take no new job from ``queue`` until it is resumed (BullMQ's pause)."""
        await self._run(calls.pause(self._keys(queue), True))

    async def resume(self, queue: str) -> None:
        keys = self._keys(queue)
        emit = True
        while _int(await self._run(calls.pause(keys, False, emit))) > 0:
            emit = False  # a BullMQ 5 paused list moves 7000 jobs per call

    async def clean(self, queue: str, state: str, older_than_ms: int,
                    limit: int | None = None) -> int:
        """Remove the jobs of ``state`` that finished (or, for waiting and delayed ones, were
        added) at least ``older_than_ms`` ago, at most ``limit`` (None: all of them), a batch
        of CLEAN_BATCH per call of BullMQ's cleanJobsInSet; how many were removed."""
        keys = self._keys(queue)
        if state not in CLEANABLE:
            raise Invalid(f"{state!r} jobs are not cleaned (states: {', '.join(CLEANABLE)}); "
                          "cancel running jobs instead")
        until = _now_ms() - max(0, older_than_ms)
        sets = [key.removeprefix(keys.base)
                for key, _ in self._sources(keys, state, await self._is_paused(keys))]
        removed = 0
        for set_name in sets:
            while limit is None or removed < limit:
                batch = CLEAN_BATCH if limit is None else min(CLEAN_BATCH, limit - removed)
                gone = await self._run(calls.clean_jobs(keys, set_name, until, batch))
                removed += len(gone or [])
                if len(gone or []) < batch:
                    break
        return removed

    async def bulk(self, action: BulkAction, queue: str, state: str, *, name: str | None = None,
                   search: str | None = None) -> BulkResult:
        """``action`` on every job of ``state`` the filter selects (all of them with none), as
        they are when it starts; at most BULK_MAX per call (``more`` says when there are more)."""
        keys = self._keys(queue)
        allowed = BULK_ACTIONS.get(action)
        if allowed is None:
            raise Invalid(f"unknown bulk action {action!r}; actions: {', '.join(BULK_ACTIONS)}")
        if state not in allowed:
            raise Invalid(f"{action} applies to {' or '.join(allowed)} jobs, not {state}")
        ids, more = await self.select(queue, state, name=name, search=search)
        result = BulkResult(action, selected=len(ids), more=more)
        act: Callable[[list[str]], Awaitable[int]] = {
            "retry": lambda chunk: self._count(self._retry_many(keys, chunk)),
            "cancel": lambda chunk: self._cancel_many(chunk, result),
            "promote": lambda chunk: self._script_many(
                [calls.promote(keys, i) for i in chunk], 0),
            "remove": lambda chunk: self._script_many(
                [calls.remove_job(keys, i) for i in chunk], 1),
        }[action]
        for n in range(0, len(ids), ACT_CHUNK):
            result.done += await act(ids[n:n + ACT_CHUNK])
        result.skipped = result.selected - result.done - len(result.errors)
        return result

    async def _count(self, done: Awaitable[list[str]]) -> int:
        return len(await done)

    async def _script_many(self, batch: list[calls.Call], success: int) -> int:
        return sum(1 for reply in await self._run_many(batch) if reply == success)

    async def _cancel_many(self, ids: list[str], result: BulkResult) -> int:
        answers = await asyncio.gather(*(self.queue.cancel(i, 0) for i in ids),
                                       return_exceptions=True)
        done = 0
        for job_id, answer in zip(ids, answers, strict=True):
            if isinstance(answer, CannotCancel):
                result.errors.append(f"{job_id}: {answer}")
            elif isinstance(answer, QueueUnavailable):
                raise answer
            elif isinstance(answer, BaseException):
                raise answer
            elif answer is not None:
                done += 1
        return done

    async def select(self, queue: str, state: str, *, name: str | None = None,
                     search: str | None = None, most: int = BULK_MAX) -> tuple[list[str], bool]:
        """The ids of every job of ``state`` the filter selects, now (at most ``most``), and
        whether there were more."""
        keys = self._keys(queue)
        sources = self._sources(keys, state, await self._is_paused(keys))
        lengths = await self._lengths(sources)
        total = sum(lengths)
        query = Search.parse(search)
        if query is not None and is_job_id(query.text):
            row = await self._row_anywhere(keys, query.text, name)
            if row is not None:  # an id: that job alone, if it is in this state
                return ([query.text] if row.state == state else []), False
        picked: list[str] = []
        cursor = 0
        while cursor < total:
            if len(picked) >= most:
                return picked[:most], True
            ids = await self._range(sources, lengths, cursor, CLEAN_BATCH)
            if not ids:
                break
            if name or query is not None:
                ids = [ids[i] for i, _ in await self._matches(keys, ids, state, name, query)]
            picked += ids
            cursor += CLEAN_BATCH
        return picked[:most], len(picked) > most

    # -- throughput -------------------------------------------------------------------------------

    async def throughput(self, minutes: int = 60,
                         queues: Iterable[str] | None = None) -> dict[str, Throughput]:
        """Completed and failed jobs per minute over the last ``minutes``, per queue: from
        BullMQ's metrics when the workers keep them (JOBCAST_METRICS_DATA_POINTS), else
        counted in the completed and failed sets by finishing time (the jobs still kept)."""
        wanted = [q for q in (queues or self.keys) if self._keys(q)]
        now_minute = _now_ms() // 60_000
        first = now_minute - minutes + 1
        metrics = await self._run_many(
            [calls.get_metrics(self.keys[q], target, 0, minutes)
             for q in wanted for target in ("completed", "failed")])
        found: dict[str, Throughput] = {}
        counted: list[str] = []
        for i, queue in enumerate(wanted):
            done, failed = metrics[2 * i], metrics[2 * i + 1]
            if _has_metrics(done) or _has_metrics(failed):
                found[queue] = Throughput(queue, first * 60_000,
                                          _metric_series(done, first, now_minute),
                                          _metric_series(failed, first, now_minute), "metrics")
            else:
                counted.append(queue)
        if counted:
            commands = [("ZCOUNT", self.keys[q].finished(target), m * 60_000,
                         f"({(m + 1) * 60_000}")
                        for q in counted for target in ("completed", "failed")
                        for m in range(first, now_minute + 1)]
            replies = [_int(r) for r in await self._send(*commands)]
            for i, queue in enumerate(counted):
                base = 2 * i * minutes
                found[queue] = Throughput(queue, first * 60_000,
                                          replies[base:base + minutes],
                                          replies[base + minutes:base + 2 * minutes], "jobs")
        return {q: found[q] for q in wanted}



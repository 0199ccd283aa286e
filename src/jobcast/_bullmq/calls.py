"""The argument packing of each BullMQ script jobcast runs: keys in order, ARGV in order.

Every function returns a ``Call`` (script, keys, args) for ``FastRedis.run``/``run_many``, so a
caller can send several in one round trip. The layouts are those of the scripts' own headers
(``bullmq/commands/*.lua``) and of Node BullMQ 6.7.0's ``scripts.ts``; tests/conformance runs
both side by side on one Redis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgpack

from ..redis.fast import Script
from .keys import QueueKeys
from .scripts import script

Call = tuple[Script, list[str], list[Any]]


def _call(name: str, keys: list[str], args: list[Any]) -> Call:
    found = script(name)
    if found.num_keys != len(keys):  # a bullmq upgrade changed the script's shape
        raise RuntimeError(f"{name} takes {found.num_keys} keys; jobcast packs {len(keys)}")
    return found, keys, args


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def _flat(fields: Mapping[str, Any]) -> bytes:
    """A hash update as BullMQ sends it: msgpack of [field, value, field, value, ...]."""
    flat: list[Any] = []
    for key, value in fields.items():
        flat += [key, value]
    return _pack(flat)


# -- producing ---------------------------------------------------------------------------------

def add_job(keys: QueueKeys, job_id: str, name: str, data_json: str, opts: dict[str, Any],
            timestamp: int, deduplication_id: str | None = None) -> Call:
    """Add a job (addStandardJob, addDelayedJob or addPrioritizedJob, as BullMQ's Queue.add
    picks); ``opts`` are BullMQ's job options in their stored short form (``de``, ``kl``, ...).
    Replies with the job id, or the id of the job a deduplication id already names."""
    dedup_key = f"{keys.base}de:{deduplication_id}" if deduplication_id else None
    args = [_pack([keys.base, job_id, name, timestamp, None, None, None, None, dedup_key]),
            data_json, _pack(opts)]
    if opts.get("delay", 0) > 0:
        return _call("addDelayedJob", [keys.marker, keys.meta, keys.id, keys.delayed,
                                       keys.completed, keys.events], args)
    if opts.get("priority", 0) > 0:
        return _call("addPrioritizedJob", [keys.marker, keys.meta, keys.id, keys.prioritized,
                                           keys.delayed, keys.completed, keys.active, keys.events,
                                           keys.pc], args)
    return _call("addStandardJob", [keys.wait, keys.paused, keys.meta, keys.id, keys.completed,
                                    keys.delayed, keys.active, keys.events, keys.marker], args)


def remove_job(keys: QueueKeys, job_id: str, children: bool = True) -> Call:
    """Remove a job that is not active (1 if it was removed); emits ``removed``."""
    return _call("removeJob", [keys.job(job_id), keys.repeat],
                 [job_id, 1 if children else 0, keys.base])


# -- consuming ---------------------------------------------------------------------------------

def _fetch_keys(keys: QueueKeys) -> list[str]:
    return [keys.wait, keys.active, keys.prioritized, keys.events, keys.stalled, keys.limiter,
            keys.delayed, keys.paused, keys.meta, keys.pc, keys.marker]


def worker_opts(token: str, lock_ms: int, limiter: Mapping[str, int] | None = None,
                name: str | None = None) -> dict[str, Any]:
    """The options map moveToActive (and a fetch-next) reads."""
    opts: dict[str, Any] = {"token": token, "lockDuration": lock_ms, "limiter": limiter}
    if name:
        opts["name"] = name
    return opts


def move_to_active(keys: QueueKeys, now_ms: int, opts: Mapping[str, Any]) -> Call:
    """Take the next job (locked with ``opts['token']``); the reply is a NextJob (records.py)."""
    return _call("moveToActive", _fetch_keys(keys), [keys.base, now_ms, _pack(dict(opts))])


def move_to_finished(keys: QueueKeys, job_id: str, now_ms: int, target: str, value: str,
                     worker: Mapping[str, Any], fetch_next: bool, finish: Mapping[str, Any],
                     fields: Mapping[str, Any] | None = None) -> Call:
    """Complete (``target`` "completed", ``value`` the JSON return value) or fail (``target``
    "failed", ``value`` the reason) an active job locked by ``worker['token']``, and with
    ``fetch_next`` take the next one. ``finish`` carries keepJobs, attempts, maxMetricsSize
    and the parent options (fpof/cpof/idof/rdof); ``fields`` are written to the job hash
    first. The reply is a NextJob, or a negative error code."""
    args = [job_id, now_ms, "returnvalue" if target == "completed" else "failedReason", value,
            target, "1" if fetch_next else "", keys.base, _pack({**worker, **finish})]
    if fields:
        args.append(_flat(fields))
    return _call("moveToFinished", [
        keys.wait, keys.active, keys.prioritized, keys.events, keys.stalled, keys.limiter,
        keys.delayed, keys.paused, keys.meta, keys.pc, keys.finished(target), keys.job(job_id),
        keys.metrics(target), keys.marker], args)


def retry_job(keys: QueueKeys, job_id: str, token: str, now_ms: int, lifo: bool,
              fields: Mapping[str, Any]) -> Call:
    """Put a failed attempt straight back in wait (no backoff delay); emits ``waiting``."""
    return _call("retryJob", [keys.active, keys.wait, keys.paused, keys.job(job_id), keys.meta,
                              keys.events, keys.delayed, keys.prioritized, keys.pc, keys.marker,
                              keys.stalled],
                 [keys.base, now_ms, "RPUSH" if lifo else "LPUSH", job_id, token, _flat(fields)])


def move_to_delayed(keys: QueueKeys, job_id: str, token: str, now_ms: int, delay_ms: int,
                    fields: Mapping[str, Any] | None, fetch: Mapping[str, Any] | None = None,
                    skip_attempt: bool = False) -> Call:
    """Retry a failed attempt after ``delay_ms`` (backoff); emits ``delayed``. With ``fetch``
    (worker_opts) it also takes the next job, replying a NextJob (or 0)."""
    args = [keys.base, str(now_ms), job_id, token, delay_ms, "1" if skip_attempt else "0",
            _flat(fields) if fields else "", "1" if fetch else "0"]
    if fetch:
        args.append(_pack(dict(fetch)))
    return _call("moveToDelayed", [keys.marker, keys.active, keys.prioritized, keys.delayed,
                                   keys.job(job_id), keys.events, keys.meta, keys.stalled,
                                   keys.wait, keys.limiter, keys.pc], args)


def move_active_to_wait(keys: QueueKeys, job_id: str, token: str) -> Call:
    """Hand a job back: release its lock, put it at the head of wait; emits ``waiting``."""
    return _call("moveJobFromActiveToWait", [
        keys.active, keys.wait, keys.stalled, keys.paused, keys.meta, keys.limiter,
        keys.prioritized, keys.marker, keys.events], [job_id, token, keys.job(job_id)])


def update_progress(keys: QueueKeys, job_id: str, progress_json: str) -> Call:
    """Store a job's progress and emit ``progress``."""
    return _call("updateProgress", [keys.job(job_id), keys.events, keys.meta],
                 [job_id, progress_json])


def extend_locks(keys: QueueKeys, job_ids: Iterable[str], tokens: Iterable[str],
                 lock_ms: int) -> Call:
    """Renew the locks of running jobs; replies with the ids that could not be renewed."""
    return _call("extendLocks", [keys.stalled],
                 [keys.base, _pack(list(tokens)), _pack(list(job_ids)), lock_ms])


def move_stalled_to_wait(keys: QueueKeys, max_stalled: int, now_ms: int,
                         interval_ms: int) -> Call:
    """The stalled check every worker runs; replies with the ids it moved back to wait."""
    return _call("moveStalledJobsToWait", [
        keys.stalled, keys.wait, keys.active, keys.stalled_check, keys.meta, keys.paused,
        keys.marker, keys.events, keys.repeat], [max_stalled, keys.base, now_ms, interval_ms])


def rate_limit(keys: QueueKeys, delay_ms: int) -> tuple[Any, ...]:
    """``worker.rateLimit(ms)``: the queue's limiter counter set beyond any max for ``ms``."""
    return ("SET", keys.limiter, 9007199254740991, "PX", max(1, delay_ms))


def get_counts(keys: QueueKeys, states: Iterable[str]) -> Call:
    """How many jobs are in each state (BullMQ's getCounts)."""
    return _call("getCounts", [keys.base], list(states))


def get_state(keys: QueueKeys, job_id: str) -> Call:
    """Where a job is: completed, failed, delayed, active, waiting, waiting-children, unknown."""
    return _call("getStateV2", [keys.completed, keys.failed, keys.delayed, keys.active,
                                keys.wait, keys.paused, keys.waiting_children, keys.prioritized],
                 [job_id])


# -- administering (what Bull Board and Node's Queue/Job do to jobs an operator picks) ----------

def reprocess_job(keys: QueueKeys, job_id: str, state: str, lifo: bool,
                  reset_attempts: bool = False) -> Call:
    """``job.retry(state)``: a failed (or completed) job back to wait (or prioritized); emits
    ``waiting`` with ``prev`` = ``state``. Replies 1, -1 (no such job) or -3 (not in ``state``)."""
    return _call("reprocessJob", [keys.job(job_id), keys.events, keys.finished(state), keys.wait,
                                  keys.meta, keys.active, keys.marker, keys.prioritized, keys.pc],
                 [job_id, "RPUSH" if lifo else "LPUSH",
                  "failedReason" if state == "failed" else "returnvalue", state,
                  "1" if reset_attempts else "0", "0"])


def promote(keys: QueueKeys, job_id: str) -> Call:
    """``job.promote()``: a delayed job to wait now; emits ``waiting``. Replies 0, or -3 (not
    delayed)."""
    return _call("promote", [keys.delayed, keys.wait, keys.paused, keys.meta, keys.prioritized,
                             keys.active, keys.pc, keys.events, keys.marker], [keys.base, job_id])


def clean_jobs(keys: QueueKeys, set_name: str, older_than_ms: int, limit: int) -> Call:
    """``queue.clean(grace, limit, type)``: remove up to ``limit`` (0: all) jobs of one set
    ("wait", "prioritized", "paused", "delayed", "completed", "failed") that finished (or were
    last processed, or added) at or before ``older_than_ms``; emits ``cleaned``. Replies with
    the removed ids."""
    return _call("cleanJobsInSet", [keys.base + set_name, keys.events, keys.repeat],
                 [keys.base, older_than_ms, limit, set_name])


def pause(keys: QueueKeys, paused: bool, emit: bool = True) -> Call:
    """``queue.pause()`` / ``queue.resume()``; emits ``paused`` / ``resumed``. A resume replies
    how many jobs of a BullMQ 5 ``paused`` list are still to move (call it again until 0)."""
    source, target = (keys.wait, keys.paused) if paused else (keys.paused, keys.wait)
    return _call("pause", [source, target, keys.meta, keys.prioritized, keys.events, keys.delayed,
                           keys.marker], ["paused" if paused else "resumed", "1" if emit else "0"])


def get_metrics(keys: QueueKeys, target: str, start: int, end: int) -> Call:
    """``queue.getMetrics(type, start, end)``: ``[[count, prevTS, prevCount], per-minute counts
    (newest first), how many]``."""
    key = keys.metrics(target)
    return _call("getMetrics", [key, f"{key}:data"], [start, end])

"""BullMQ's stored job, decoded: the job hash fields, and the reply of a fetch (moveToActive).

Field names are BullMQ 6's: ``atm`` attempts made, ``ats`` attempts started, ``stc`` stall count,
``defa`` a deferred failure, ``rjk`` the scheduler (repeat) key, ``pk`` the parent key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson


def decode_json(raw: str | None) -> Any:
    """A JSON field of BullMQ's, decoded; a malformed one is returned as it is."""
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


def _int(raw: str | None) -> int:
    try:
        return int(raw or 0)
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job as a worker fetched it."""

    id: str
    name: str
    data_json: str
    opts: dict[str, Any]
    timestamp: int
    attempts_made: int
    attempts_started: int
    stalled_counter: int
    progress: Any
    deferred_failure: str | None
    parent_key: str | None
    repeat_job_key: str | None
    fields: dict[str, str]

    @classmethod
    def from_flat(cls, job_id: str, flat: list[str]) -> JobRecord:
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        opts = decode_json(fields.get("opts"))
        return cls(
            id=job_id,
            name=fields.get("name", ""),
            data_json=fields.get("data", "{}"),
            opts=opts if isinstance(opts, dict) else {},
            timestamp=_int(fields.get("timestamp")),
            attempts_made=_int(fields.get("atm") or fields.get("attemptsMade")),
            attempts_started=_int(fields.get("ats")),
            stalled_counter=_int(fields.get("stc")),
            progress=decode_json(fields.get("progress")),
            deferred_failure=fields.get("defa") or None,
            parent_key=fields.get("pk") or fields.get("parentKey") or None,
            repeat_job_key=fields.get("rjk") or None,
            fields=fields,
        )

    @property
    def data(self) -> Any:
        return decode_json(self.data_json)

    @property
    def attempts(self) -> int:
        """How many attempts the job may have in all (BullMQ's ``attempts`` option)."""
        value = self.opts.get("attempts") or 1
        return value if isinstance(value, int) and value > 0 else 1


class NextJob(NamedTuple):
    """What moveToActive (or a fetch-next) answered."""

    job: JobRecord | None
    limit_until_ms: int
    """The queue is rate limited until then (0: not limited)."""
    delay_until_ms: int
    """The next delayed job is due then (0: none)."""


def next_job(raw: Any) -> NextJob:
    """Decode ``[job fields, job id, limitUntil, delayUntil]`` (or ``0`` / nothing)."""
    if not isinstance(raw, list) or not raw:
        return NextJob(None, 0, 0)
    flat, job_id = raw[0], raw[1] if len(raw) > 1 else None
    limit_until = _int(raw[2]) if len(raw) > 2 else 0
    delay_until = _int(raw[3]) if len(raw) > 3 else 0
    job = JobRecord.from_flat(str(job_id), flat) if isinstance(flat, list) and flat else None
    return NextJob(job, limit_until, delay_until)

"""Entries of a queue's event stream (``<prefix>:<queue>:events``), decoded.

BullMQ's scripts write each entry as ``event <kind> jobId <id> <field> <value> ...``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .records import decode_json


@dataclass(frozen=True, slots=True)
class QueueEvent:
    """One entry of a queue's event stream."""

    queue: str
    kind: str
    job_id: str
    fields: dict[str, str]

    @property
    def progress(self) -> Any:
        """The progress value of a ``progress`` event (a number, or a JSON object)."""
        return decode_json(self.fields.get("data"))

    @property
    def result(self) -> Any:
        return decode_json(self.fields.get("returnvalue"))

    @property
    def reason(self) -> str:
        return self.fields.get("failedReason", "")

    @property
    def prev(self) -> str | None:
        """The state the job left (``waiting`` events: "failed", "active", "delayed", ...)."""
        return self.fields.get("prev")


def decode_entry(queue: str, flat: list[str], kinds: frozenset[str]) -> QueueEvent | None:
    """The event of one stream entry's field list, if its kind is one of ``kinds``. The queue's
    own events (``paused``, ``resumed``, ``cleaned``) have no job: their ``job_id`` is ""."""
    if len(flat) < 2 or flat[1] not in kinds:
        return None
    job_id = flat[3] if len(flat) >= 4 and flat[2] == "jobId" else ""
    return QueueEvent(queue, flat[1], job_id, dict(zip(flat[::2], flat[1::2], strict=True)))

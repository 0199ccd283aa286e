"""A handler's return value, serialised once, the same way for every kind of handler.

orjson writes what it can as standard JSON (datetimes and UUIDs as strings, dataclasses as
objects, NaN as null), so what is stored is readable by every BullMQ client; a value it cannot
write fails the job with a reason that says so, instead of a completion Redis never records.
"""

from __future__ import annotations

from typing import Any

import orjson


class ResultError(Exception):
    """The result cannot be stored; ``str()`` is the job's failure reason."""


def serialise_result(result: Any) -> str:
    try:
        return orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError as err:
        raise ResultError(f"the job's result cannot be stored as JSON: {err}") from None

"""Job ids are capabilities: jobcast's own are 128 random bits, and every id is checked at
every entry point before it reaches Redis.

BullMQ's default ids are a counter, so anyone could guess another user's job. jobcast's are 22
characters of base64url (``secrets.token_urlsafe(16)``).
"""

from __future__ import annotations

import re
import secrets

_OWN = re.compile(r"[A-Za-z0-9_-]{22}")


def new_job_id() -> str:
    return secrets.token_urlsafe(16)


def is_job_id(value: object) -> bool:
    """An id jobcast accepts at its entry points (API, sockets, results)."""
    return isinstance(value, str) and _OWN.fullmatch(value) is not None

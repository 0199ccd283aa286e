"""Job ids are capabilities: 128 random bits, URL-safe, checked at every entry point.

BullMQ's default ids are a counter, so anyone could guess another user's job. Ours are
22 characters of base64url (``secrets.token_urlsafe(16)``); anything else is refused before
it reaches Redis.
"""

from __future__ import annotations

import re
import secrets

_JOB_ID = re.compile(r"[A-Za-z0-9_-]{22}")


def new_job_id() -> str:
    return secrets.token_urlsafe(16)


def is_job_id(value: object) -> bool:
    return isinstance(value, str) and _JOB_ID.fullmatch(value) is not None

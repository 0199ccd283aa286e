"""Job ids are capabilities: jobcast's own are 128 random bits, and every id is checked at
every entry point before it reaches Redis.

BullMQ's default ids are a counter, so anyone could guess another user's job: jobcast never
uses them for its own jobs, which get 22 characters of base64url (``secrets.token_urlsafe``).
Jobs a Node producer added keep the ids it chose ("42", "order-42"); those are accepted too,
bounded and printable, and the access hooks decide who sees what.
"""

from __future__ import annotations

import re
import secrets

_OWN = re.compile(r"[A-Za-z0-9_-]{22}")
_ANY = re.compile(r"[!-.0-~]{1,256}")
"""Visible ASCII without "/" (a path segment), at most 256 characters."""
_FILE_SAFE = re.compile(r"[A-Za-z0-9_-]{1,128}")


def new_job_id() -> str:
    """128 random bits as base64url, never starting with "-": a command line would read such
    an id as an option (``jobcast cancel -qp3k...``). Drawing again keeps every other id as
    likely as before, at a cost of 1/64 of a bit."""
    while True:
        job_id = secrets.token_urlsafe(16)
        if not job_id.startswith("-"):
            return job_id


def is_job_id(value: object) -> bool:
    """An id jobcast accepts at its entry points (API, sockets), whoever produced the job."""
    return isinstance(value, str) and _ANY.fullmatch(value) is not None


def is_own_id(value: object) -> bool:
    """An id of the kind jobcast gives its own jobs."""
    return isinstance(value, str) and _OWN.fullmatch(value) is not None


def is_file_safe(value: object) -> bool:
    """An id that may name a result file (no dots, no separators)."""
    return isinstance(value, str) and _FILE_SAFE.fullmatch(value) is not None

"""Watch tokens: a signed permission to watch one job, read-only, until it expires.

A frontend on another origin, a mobile app or a shared link can follow a job without the
application's session: ``POST /api/<job>`` answers ``watchToken`` beside ``jobId`` when a secret
is set (``JOBCAST_WATCH_SECRET``), and joins, the event stream, status, output, logs and the
result file accept it. It never allows a cancel.

A token is ``<base64url job id>.<expiry, unix seconds>.<base64url HMAC-SHA256>`` over
``jobcast-watch\\n<job id>\\n<expiry>`` with the secret. No state is kept: rotating the secret
(``JOBCAST_WATCH_SECRET=new,old`` signs with the first and accepts all) lets old tokens run out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

READ_ONLY = frozenset({"join", "status", "result"})
"""What a watch token allows (output and logs are read through "status")."""


class BadToken(Exception):
    """A token that does not allow this: the message says why (for the refusal)."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class WatchTokens:
    """Example usage::

        tokens = WatchTokens(["s3cret-new", "s3cret-old"], ttl_s=86400)
        token = tokens.issue(job_id)
        tokens.check(token, job_id)     # None, or raises BadToken("the watch token expired")
    """

    def __init__(self, secrets: list[str], ttl_s: int) -> None:
        if not secrets:
            raise ValueError("watch tokens need at least one secret")
        self._keys = [s.encode() for s in secrets]
        self.ttl_s = ttl_s

    def issue(self, job_id: str, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + self.ttl_s)
        return f"{_b64(job_id.encode())}.{expires}.{_b64(self._sign(self._keys[0], job_id, expires))}"

    def check(self, token: str, job_id: str, now: float | None = None) -> None:
        try:
            encoded_id, expires_text, signature = token.split(".")
            token_job = _unb64(encoded_id).decode()
            expires = int(expires_text)
            given = _unb64(signature)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise BadToken("malformed watch token") from None
        if not any(hmac.compare_digest(given, self._sign(key, token_job, expires))
                   for key in self._keys):
            raise BadToken("invalid watch token")
        if token_job != job_id:
            raise BadToken("the watch token is for another job")
        if expires < (now if now is not None else time.time()):
            raise BadToken("the watch token expired")

    @staticmethod
    def _sign(key: bytes, job_id: str, expires: int) -> bytes:
        return hmac.new(key, f"jobcast-watch\n{job_id}\n{expires}".encode(),
                        hashlib.sha256).digest()

"""Redis connections with timeouts that fail fast: a request must get its 503 in seconds."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

REDIS_ERRORS = (ConnectionError, TimeoutError, OSError)
"""What a lost or unreachable Redis raises."""


def connect(url: str, *, blocking: bool = False) -> Redis:
    """A client for ``url``. ``blocking`` clients (XREAD/BZPOPMIN) get no read timeout."""
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=None if blocking else 5,
        socket_keepalive=True,
        health_check_interval=0 if blocking else 30,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        retry_on_error=[ConnectionError, TimeoutError],
    )

"""redis-py clients for the paths that are not hot (pub/sub, blocking pops, rare scripts),
with timeouts that fail fast: a request must get its 503 in seconds, not minutes."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, RedisError, TimeoutError

from .url import RedisTarget

REDIS_ERRORS = (ConnectionError, TimeoutError, OSError)
"""What a lost or unreachable Redis raises."""

REDIS_FAULTS = (RedisError, OSError)
"""Anything Redis can answer instead of doing the work, LOADING or READONLY included: the
long-running loops wait and retry on these rather than end."""


def connect(target: RedisTarget, *, read_timeout: float | None = 5,
            name: str | None = None) -> Redis:
    """A pooled client; commands in flight at once each get a connection.

    ``read_timeout`` must outlast any blocking command sent on this client (XREAD BLOCK,
    BZPOPMIN); None waits for ever. ``name`` is each connection's CLIENT SETNAME.
    """
    return Redis(
        **target.redis_py_kwargs(),
        client_name=name,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=read_timeout,
        socket_keepalive=True,
        health_check_interval=30 if read_timeout else 0,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        retry_on_error=[ConnectionError, TimeoutError],
    )

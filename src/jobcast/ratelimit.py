"""A fixed-window limit on enqueues per client, counted in Redis so all web processes share it."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from . import keys
from .errors import QueueUnavailable
from .redis_client import REDIS_ERRORS

_WINDOWS = {"second": 1, "minute": 60, "hour": 3600}


class RateLimiter:
    """``limit`` is "N/second|minute|hour", or "0" for none."""

    def __init__(self, redis: Redis, limit: str) -> None:
        self._redis = redis
        count, _, unit = limit.partition("/")
        self._max = int(count)
        self._window = _WINDOWS.get(unit, 60)

    async def hit(self, client: str) -> int:
        """Count one enqueue; 0 if allowed, else the seconds to wait."""
        if self._max <= 0:
            return 0
        window = int(time.time()) // self._window
        key = keys.rate_key(client, window)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, self._window + 1)
                count, _ = await pipe.execute()
        except REDIS_ERRORS as err:
            raise QueueUnavailable(f"Redis is unreachable: {err}") from err
        if count <= self._max:
            return 0
        return max(1, (window + 1) * self._window - int(time.time()))

"""A fixed-window limit on enqueues per client, counted in Redis so all web processes share it."""

from __future__ import annotations

import time

from .. import names
from ..errors import QueueUnavailable
from ..redis import REDIS_ERRORS, FastRedis
from ..settings import RateLimit


class RateLimiter:
    def __init__(self, fast: FastRedis, limit: RateLimit) -> None:
        self._fast = fast
        self._limit = limit

    async def hit(self, client: str, count: int = 1) -> int:
        """Count ``count`` enqueues (a batch counts each item); 0 if allowed, else the seconds
        to wait."""
        count_max, window_s = self._limit
        if count_max <= 0:
            return 0
        window = int(time.time()) // window_s
        key = names.rate_key(client, window)
        try:
            total, _ = await self._fast.pipeline(("INCRBY", key, count),
                                                 ("EXPIRE", key, window_s + 1))
        except REDIS_ERRORS as err:
            raise QueueUnavailable(f"Redis is unreachable: {err}") from err
        if isinstance(total, Exception):
            raise QueueUnavailable(f"Redis refused: {total}")
        if total <= count_max:
            return 0
        return max(1, (window + 1) * window_s - int(time.time()))

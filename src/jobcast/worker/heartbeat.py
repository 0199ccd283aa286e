"""The worker's heartbeat, for ``jobcast worker --check`` (a container health check)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

from redis.asyncio import Redis

from .. import names
from ..redis import REDIS_ERRORS, connect
from ..settings import Settings

log = logging.getLogger("jobcast.worker")

INTERVAL_S = 5.0


def heartbeat_key() -> str:
    return names.heartbeat_key(socket.gethostname(), os.getpid())


async def beat(redis: Redis, state: Callable[[], str]) -> None:
    """Refresh this process's key every few seconds; it expires when the process stops."""
    key = heartbeat_key()
    while True:
        try:
            await redis.set(key, state(), ex=int(INTERVAL_S * 3))
        except REDIS_ERRORS as err:
            log.warning("heartbeat: Redis unreachable: %s", err)
        await asyncio.sleep(INTERVAL_S)


async def check_heartbeat(settings: Settings) -> bool:
    """True if a worker on this host has beaten recently."""
    if not settings.redis_url:
        return False
    redis = connect(settings.redis_target())
    try:
        async for _ in redis.scan_iter(match=names.heartbeat_pattern(socket.gethostname())):
            return True
        return False
    except REDIS_ERRORS:
        return False
    finally:
        await redis.aclose()

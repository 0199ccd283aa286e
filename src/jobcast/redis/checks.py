"""What a Redis must be for BullMQ not to lose jobs, checked when jobcast connects."""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import AuthenticationError, ConnectionError, ResponseError

from ..errors import ConfigError
from .fast import FastRedis
from .url import RedisTarget

log = logging.getLogger("jobcast")

SAFE_POLICY = "noeviction"


async def redis_warnings(fast: FastRedis) -> list[str]:
    """Warnings about this Redis (empty when it is fit, or when it will not say)."""
    try:
        reply = await fast.call("CONFIG", "GET", "maxmemory-policy")
    except ResponseError:  # CONFIG refused (an ACL user, a managed Redis): nothing to say
        return []
    policy = reply[1] if isinstance(reply, list) and len(reply) == 2 else None
    if policy and policy != SAFE_POLICY:
        return [f"Redis's maxmemory-policy is {policy!r}: when it is full it may evict BullMQ's "
                f"keys and lose jobs; set it to {SAFE_POLICY!r}"]
    return []


def is_out_of_memory(err: BaseException) -> bool:
    """Redis refused a write because it reached maxmemory (a state that passes). A script's
    first write is refused before anything is written, so nothing is half done."""
    text = str(err)
    return isinstance(err, ResponseError) and (
        "OOM command not allowed" in text or text.startswith("EXECABORT"))


async def check_credentials(target: RedisTarget) -> None:
    """At start-up: a wrong password or a refused user is a clear error now, not a process
    retrying for ever; an unreachable Redis is only a warning (it may come later)."""
    fast = FastRedis(target)
    try:
        async with asyncio.timeout(3):
            await fast.call("PING")
    except AuthenticationError as err:
        raise ConfigError(str(err)) from None
    except ResponseError as err:  # NOAUTH: a password is needed; NOPERM: the user may not
        raise ConfigError(f"Redis at {target.where} refused jobcast: {err}") from None
    except (TimeoutError, ConnectionError, OSError) as err:
        log.warning("Redis at %s is not reachable yet (%s); waiting for it", target.where, err)
    finally:
        await fast.aclose()

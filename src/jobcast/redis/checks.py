"""What a Redis must be for BullMQ not to lose jobs, checked when jobcast connects."""

from __future__ import annotations

from redis.exceptions import ResponseError

from .fast import FastRedis

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

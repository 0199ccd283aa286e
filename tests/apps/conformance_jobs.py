"""jobcast's side of the conformance scenarios: the behaviours of tests/conformance/node/worker.js,
chosen by the job's data, on the queue named by ``CONF_QUEUE``.

``CONF_QUEUE`` may name several queues (comma-separated), one job each; ``CONF_NAMES`` adds more
job names on the first queue, for name routing;
``CONF_LIMITER`` ("max/duration_ms") gives the queue a worker limiter.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from jobcast import JobContext, JobFailed, Jobs, RateLimited

jobs = Jobs()
QUEUES = os.environ.get("CONF_QUEUE", "conformance").split(",")
_limiter = os.environ.get("CONF_LIMITER")
LIMITER = tuple(int(x) for x in _limiter.split("/")) if _limiter else None


@jobs.backoff("mine")
async def mine(attempts_made: int, kind: str, reason: str, job: Any) -> int:
    """The same custom strategy the Node worker gets: 200 ms per attempt made."""
    return attempts_made * 200


async def behave(ctx: JobContext, data: dict[str, Any]) -> Any:
    do = data.get("do")
    if do == "ok":
        return data.get("value", {"ok": True})
    if do == "fail":
        raise ValueError(data.get("message", "boom"))
    if do == "fail_times":
        if ctx.attempt <= data["n"]:
            raise ValueError(f"attempt {ctx.attempt} failed")
        return {"attempt": ctx.attempt}
    if do == "unrecoverable":
        raise JobFailed(data.get("message", "never again"), retry=False)
    if do == "die":
        os.kill(os.getpid(), signal.SIGKILL)
        await asyncio.sleep(60)
    if do == "children":
        return {"children": await ctx.children_values(),
                "failed": await ctx.failed_children()}
    if do == "log":
        for line in data.get("lines", []):
            ctx.log(line)
        return {"lines": len(data.get("lines", []))}
    if do == "progress":
        for value in data.get("values", []):
            ctx.progress(value)
            await asyncio.sleep(data.get("ms", 5) / 1000)
        return {"values": len(data.get("values", []))}
    if do == "sleep":
        await asyncio.sleep(data.get("ms", 100) / 1000)
        return {"slept": data.get("ms", 100)}
    if do == "ratelimit":
        if ctx.attempts_started <= 1:
            raise RateLimited(data.get("ms", 500))
        return {"attempt": ctx.attempts_started}
    if do == "name":
        return {"name": ctx.name}
    raise ValueError(f"unknown behaviour {do}")


for queue in QUEUES:
    jobs.job(queue, attempts=1, limiter=LIMITER, strict=False)(behave)
for name in filter(None, os.environ.get("CONF_NAMES", "").split(",")):
    jobs.job(name, queue=QUEUES[0], attempts=1, limiter=LIMITER, strict=False)(behave)

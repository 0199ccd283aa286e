"""Give an active job back to its queue, at the head of the line (BullMQ's own script)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bullmq
from redis.asyncio import Redis

_SOURCE = (Path(bullmq.__file__).parent / "commands" / "moveJobFromActiveToWait-9.lua").read_text()


async def hand_back(redis: Redis, keys: dict[str, str], job_id: str, token: str) -> Any:
    """Release the job's lock and move it from active to wait, emitting BullMQ's event."""
    script = redis.register_script(_SOURCE)
    return await script(
        keys=[keys["active"], keys["wait"], keys["stalled"], keys["paused"], keys["meta"],
              keys["limiter"], keys["prioritized"], keys["marker"], keys["events"]],
        args=[job_id, token, f"{keys['']}{job_id}"],
    )

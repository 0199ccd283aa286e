"""Waiting for a condition: awaited where an event can be, polled (briefly) where only state
can be read. One way each, sync and async."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll ``predicate`` from synchronous code."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout}s")
        time.sleep(0.05)


async def until(predicate: Callable[[], Any], timeout: float = 20.0,
                what: str = "condition") -> None:
    """Poll ``predicate`` without blocking the event loop (socket clients keep receiving)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.05)

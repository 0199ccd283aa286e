"""Progress coalescing: at most one update per interval, never lower, the last one flushed."""

from __future__ import annotations

import asyncio

import pytest

from jobcast.context import checked_percent
from jobcast.worker.progress import ProgressCoalescer


async def test_a_flood_becomes_a_few_updates_and_the_last_is_flushed() -> None:
    sent: list[float] = []

    async def send(value: float) -> None:
        sent.append(value)

    coalescer = ProgressCoalescer(send, interval=0.05)
    for i in range(1, 10_001):
        coalescer.report(checked_percent(i / 100))
        if i % 1000 == 0:
            await asyncio.sleep(0.02)
    last = await coalescer.finish()  # the last value, to go out with the completion
    if last is not None:
        sent.append(last)
    assert sent[-1] == 100
    assert sent == sorted(sent)
    assert 2 <= len(sent) <= 8, sent


async def test_values_never_go_down_and_nothing_is_sent_after_finish() -> None:
    sent: list[float] = []

    async def send(value: float) -> None:
        sent.append(value)

    coalescer = ProgressCoalescer(send, interval=0.01)
    for value in (50, 20, 40, 60):
        coalescer.report(value)
    assert await coalescer.finish() == 60  # never sent by the timer: handed over at the end
    coalescer.report(90)
    await asyncio.sleep(0.05)
    assert sent == []


def test_progress_values_are_checked() -> None:
    assert checked_percent(150) == 100 and checked_percent(-3) == 0 and checked_percent(33.333) == 33.33
    for bad in ("50", None, True):
        with pytest.raises(TypeError):
            checked_percent(bad)
    with pytest.raises(ValueError):
        checked_percent(float("nan"))

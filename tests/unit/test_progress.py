"""Progress coalescing: at most one update per interval, never lower, the last one flushed;
messages travel with their value and the time left comes from the job's own pace."""

from __future__ import annotations

import asyncio

import pytest

from jobcast.context import checked_percent
from jobcast.worker.progress import Eta, Progress, ProgressCoalescer


async def test_a_flood_becomes_a_few_updates_and_the_last_is_flushed() -> None:
    sent: list[Progress] = []

    async def send(value: Progress) -> None:
        sent.append(value)

    coalescer = ProgressCoalescer(send, interval=0.05)
    for i in range(1, 10_001):
        coalescer.report(checked_percent(i / 100))
        if i % 1000 == 0:
            await asyncio.sleep(0.02)
    last = await coalescer.finish()  # the last value, to go out with the completion
    if last is not None:
        sent.append(last)
    values = [p.value for p in sent]
    assert values[-1] == 100 and sent[-1].eta == 0.0
    assert values == sorted(values)
    assert 2 <= len(sent) <= 8, sent


async def test_values_never_go_down_and_nothing_is_sent_after_finish() -> None:
    sent: list[Progress] = []

    async def send(value: Progress) -> None:
        sent.append(value)

    coalescer = ProgressCoalescer(send, interval=0.01)
    for value in (50, 20, 40, 60):
        coalescer.report(value)
    last = await coalescer.finish()  # never sent by the timer: handed over at the end
    assert last is not None and last.value == 60
    coalescer.report(90)
    await asyncio.sleep(0.05)
    assert sent == []


async def test_a_new_message_at_the_same_value_is_news() -> None:
    sent: list[Progress] = []

    async def send(value: Progress) -> None:
        sent.append(value)

    coalescer = ProgressCoalescer(send, interval=0.01)
    coalescer.report(10, "page 1 of 10")
    coalescer.report(10, "page 1 of 10")  # nothing new
    last = await coalescer.finish()
    assert last is not None and last.message == "page 1 of 10"
    coalescer = ProgressCoalescer(send, interval=0.01)
    coalescer.report(10, "a")
    coalescer.report(10, "b")
    last = await coalescer.finish()
    assert last is not None and last.message == "b"


def test_time_left_follows_the_jobs_pace() -> None:
    eta = Eta()
    assert eta(0, now=100.0) is None  # no pace yet
    assert eta(5, now=100.1) is None  # too early to tell
    assert eta(10, now=101.0) == 9.0  # 10 % per second: 90 % in 9 s
    assert eta(50, now=105.0) == 5.0
    assert eta(50, now=110.0) == 10.0  # a stall makes the estimate grow
    assert eta(100, now=110.0) == 0.0


def test_stored_progress_is_a_number_or_an_object() -> None:
    assert Progress(40).stored() == 40
    assert Progress(40, "page 2 of 5", 3.0).stored() == {"percent": 40, "message": "page 2 of 5", "eta": 3.0}
    assert Progress(40, None, 1.5).stored() == {"percent": 40, "eta": 1.5}


def test_progress_values_are_checked() -> None:
    assert checked_percent(150) == 100 and checked_percent(-3) == 0 and checked_percent(33.333) == 33.33
    for bad in ("50", None, True):
        with pytest.raises(TypeError):
            checked_percent(bad)
    with pytest.raises(ValueError):
        checked_percent(float("nan"))


async def test_an_interval_of_zero_sends_every_change_in_order_none_merged() -> None:
    sent: list[float] = []
    gate = asyncio.Event()

    async def slow_send(value: Progress) -> None:
        await gate.wait()  # several updates in flight at once, as on a busy connection
        sent.append(value.value)

    coalescer = ProgressCoalescer(slow_send, interval=0)
    for value in (10, 20, 20, 15, 30, 40):
        coalescer.report(value)
    await asyncio.sleep(0)
    gate.set()
    assert await coalescer.finish() is None  # nothing left over: all went out
    assert sent == [10, 20, 30, 40]  # every change, in order; repeats and a step back dropped

"""The output store's script against a real redis-server: seqs, events, the byte bound (what
fits is kept, never half a character), BullMQ's log trimming."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from jobcast._bullmq import QueueKeys
from jobcast.output.store import append_call, read_entries
from jobcast.redis import FastRedis, parse_redis_url
from support import RedisServer


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[tuple[FastRedis, QueueKeys]]:
    fast = FastRedis(parse_redis_url(redis_server.url.replace("/0", "/3")))
    keys = QueueKeys("bull", "store")
    await fast.call("FLUSHDB")
    await fast.call("HSET", keys.job("j1"), "name", "store")
    yield fast, keys
    await fast.aclose()


async def test_entries_get_consecutive_seqs_and_an_event_each(
        store: tuple[FastRedis, QueueKeys]) -> None:
    fast, keys = store
    assert await fast.run(*append_call(keys, "j1", "output", ["a", "b"])) == [0, 2, 2]
    assert await fast.run(*append_call(keys, "j1", "output", ["cd"])) == [2, 1, 4]
    entries, total = await read_entries(fast, keys, "j1", "output")
    assert [(e.seq, e.text) for e in entries] == [(0, "a"), (1, "b"), (2, "cd")] and total == 3
    assert [e.seq for e in (await read_entries(fast, keys, "j1", "output", after=1))[0]] == [2]
    events = await fast.call("XRANGE", keys.events, "-", "+")
    fields = [dict(zip(f[::2], f[1::2], strict=True)) for _, f in events]
    assert [(f["event"], f["seq"], f["text"]) for f in fields] == [
        ("output", "0", "a"), ("output", "1", "b"), ("output", "2", "cd")]
    # A job that is gone gets nothing written.
    assert await fast.run(*append_call(keys, "gone", "output", ["x"])) == -1
    assert await fast.call("EXISTS", f"{keys.job('gone')}:output") == 0


async def test_the_bound_keeps_what_fits_and_never_splits_a_character(
        store: tuple[FastRedis, QueueKeys]) -> None:
    fast, keys = store
    # "é" is two bytes: with 7 bytes of room left, 3 of them fit (6 bytes), not 3.5.
    reply = await fast.run(*append_call(keys, "j1", "output", ["ab", "ééééé", "z"], max_bytes=9))
    assert reply == [-2, 2, 8, "bytes"]  # stopped; 2 entries kept ("ab" and "ééé"), 8 bytes
    entries, _ = await read_entries(fast, keys, "j1", "output")
    assert [e.text for e in entries] == ["ab", "ééé"]
    # At the bound: a byte still fits, two do not ("y" is kept, as what fits always is).
    assert (await fast.run(*append_call(keys, "j1", "output", ["yz"], max_bytes=9)))[0] == -2
    assert [e.text for e in (await read_entries(fast, keys, "j1", "output"))[0]] == ["ab", "ééé", "y"]


async def test_the_log_is_bullmqs_trimmed_to_keep_logs_with_seqs_that_go_on(
        store: tuple[FastRedis, QueueKeys]) -> None:
    fast, keys = store
    for i in range(5):
        await fast.run(*append_call(keys, "j1", "log", [f"line {i}"], keep=3))
    assert await fast.call("LRANGE", keys.logs("j1"), 0, -1) == ["line 2", "line 3", "line 4"]
    entries, total = await read_entries(fast, keys, "j1", "log")
    assert [(e.seq, e.text) for e in entries] == [(2, "line 2"), (3, "line 3"), (4, "line 4")]
    assert total == 5


async def test_the_entry_bound_stops_at_that_many_entries(
        store: tuple[FastRedis, QueueKeys]) -> None:
    fast, keys = store
    reply = await fast.run(*append_call(keys, "j1", "output", ["a", "b", "c"], max_entries=2))
    assert reply == [-2, 2, 2, "entries"]
    assert [e.text for e in (await read_entries(fast, keys, "j1", "output"))[0]] == ["a", "b"]
    events = await fast.call("XLEN", keys.events)
    assert events == 2  # an event per stored entry, none for the refused one

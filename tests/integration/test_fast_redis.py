"""FastRedis, the lean client of the hot path, against a real redis-server."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError, ResponseError

from jobcast.redis import FastRedis, Script, parse_redis_url
from support import RedisServer

INCR_BY = Script("return redis.call('INCRBY', KEYS[1], ARGV[1])")


async def test_concurrent_calls_share_one_connection_in_order(redis_server: RedisServer) -> None:
    redis = FastRedis(parse_redis_url(redis_server.url))
    await redis.call("DEL", "resp:n")
    results = await asyncio.gather(*(redis.call("INCR", "resp:n") for _ in range(500)))
    assert sorted(results) == list(range(1, 501)) and results == sorted(results)
    assert await redis.call("GET", "resp:n") == "500"
    await redis.aclose()


async def test_scripts_load_themselves_after_a_flush(redis_server: RedisServer) -> None:
    redis = FastRedis(parse_redis_url(redis_server.url))
    await redis.call("SET", "resp:s", 0)
    await redis.call("SCRIPT", "FLUSH")
    assert await redis.run(INCR_BY, ["resp:s"], [5]) == 5
    await redis.call("SCRIPT", "FLUSH")
    replies = await redis.run_many([(INCR_BY, ["resp:s"], [1]), (INCR_BY, ["resp:s"], [2])])
    assert replies == [6, 8]  # each ran exactly once despite the NOSCRIPT round
    # One script known, one not: only the unknown one is sent again (the other already ran).
    fresh = Script("return redis.call('INCRBY', KEYS[1], ARGV[1]) + 0")
    assert await redis.run_many([(INCR_BY, ["resp:s"], [10]), (fresh, ["resp:s"], [100])]) \
        == [18, 118]
    await redis.call("SCRIPT", "FLUSH")
    await redis.call("SET", "resp:s", 8)
    atomic = await redis.run_many([(INCR_BY, ["resp:s"], [1])], then=[("GET", "resp:s")],
                                  atomic=True)
    assert atomic == [9, "9"]
    with pytest.raises(ResponseError):
        await redis.call("NOSUCHCOMMAND")
    # A refused transaction (EXECABORT) answers with the error for every command, never with
    # the reply of a script load in front of it.
    refused = await redis.run_many([(INCR_BY, ["resp:s"], [1])], then=[("NOSUCHCOMMAND",)],
                                   atomic=True)
    assert all(isinstance(r, ResponseError) for r in refused) and len(refused) == 2
    assert await redis.call("GET", "resp:s") == "9"  # nothing of it ran
    assert await redis.call("PING") == "PONG"  # an error reply doesn't break the stream
    await redis.aclose()


async def test_run_soon_sends_at_once_in_order_and_loads_an_unknown_script(
        redis_server: RedisServer) -> None:
    redis = FastRedis(parse_redis_url(redis_server.url))
    await redis.call("SET", "resp:soon", 0)  # connected: run_soon needs no coroutine now
    await redis.call("SCRIPT", "FLUSH")
    futures = [redis.run_soon(INCR_BY, ["resp:soon"], [1]) for _ in range(50)]
    assert all(isinstance(f, asyncio.Future) for f in futures)
    assert await asyncio.gather(*futures) == list(range(1, 51))  # each ran once, in order
    with pytest.raises(ResponseError):
        await redis.run_soon(Script("return redis.call('NOSUCHCOMMAND')"), [], [])
    await redis.aclose()
    # Not connected: it connects first, the same way run() does.
    assert await redis.run_soon(INCR_BY, ["resp:soon"], [1]) == 51
    await redis.aclose()


async def test_a_lost_server_fails_calls_then_reconnects() -> None:
    server = RedisServer().start()
    redis = FastRedis(parse_redis_url(server.url))
    try:
        await redis.call("SET", "k", "v")
        server.stop()
        with pytest.raises(ConnectionError):
            await redis.call("GET", "k")
        server.start()
        assert await redis.call("GET", "k") == "v"  # AOF kept it; the client reconnected
    finally:
        await redis.aclose()
        server.stop()

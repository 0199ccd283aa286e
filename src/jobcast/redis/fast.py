"""A lean, pipelined Redis client for the hot path (the worker's per-job script calls).

redis-py's asyncio client spends ~100-200 µs of CPU per command (pool checkout, retry
wrapper, callbacks); a job costs several commands, and the worker was CPU-bound on that. This
client keeps one connection, packs and parses in C (hiredis), and matches replies in order.
Commands leave in batches: at the end of the event loop's turn when the connection has been
quiet, else at most one write per ``FLUSH_GAP`` (a millisecond). Under load concurrent jobs
then share writes, round trips and Redis's reads (a write per command was a fifth of the
worker's CPU at one progress update per step); when idle, nothing waits.
Blocking commands do not belong on it. On a lost connection every pending call fails with
ConnectionError and the next call reconnects.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import hiredis
from redis.exceptions import AuthenticationError, ConnectionError, ResponseError

from .url import RedisTarget

FLUSH_GAP = 0.001
"""Seconds between two writes on a busy connection."""


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader(encoding="utf-8", errors="surrogateescape")
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._outgoing: list[bytes] = []
        self._flushed = 0.0

    def send(self, data: bytes, futures: list[asyncio.Future[Any]] | asyncio.Future[Any]) -> None:
        """Queue ``data`` for the next write; its replies resolve ``futures``, in order."""
        if self.lost:
            raise ConnectionError("connection to Redis lost")
        if not self._outgoing:
            loop = asyncio.get_running_loop()
            wait = self._flushed + FLUSH_GAP - loop.time()
            if wait > 0:
                loop.call_later(wait, self._flush)
            else:
                loop.call_soon(self._flush)
        self._outgoing.append(data)
        if isinstance(futures, list):
            self.pending.extend(futures)
        else:
            self.pending.append(futures)

    def _flush(self) -> None:
        data, self._outgoing = self._outgoing, []
        self._flushed = asyncio.get_running_loop().time()
        if self.transport is not None and not self.lost:
            self.transport.write(data[0] if len(data) == 1 else b"".join(data))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # A Redis host that vanishes (no FIN, no RST) is noticed in about a minute.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for option, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
                if hasattr(socket, option):
                    sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            future = self.pending.popleft()
            if future.done():
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(ResponseError(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(ConnectionError(f"connection to Redis lost: {exc}"))


def _raise_lost(replies: list[Any]) -> None:
    for reply in replies:
        if isinstance(reply, (ConnectionError, OSError)):
            raise reply


def _copy(source: asyncio.Future[Any], target: asyncio.Future[Any]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif (error := source.exception()) is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())


def settle_or_again(result: asyncio.Future[Any], again_when: Callable[[BaseException | None], bool],
                    again: Callable[[], Awaitable[Any]]) -> Callable[[asyncio.Future[Any]], None]:
    """A done-callback for a command sent at once: its outcome goes into ``result``, unless
    its error is one ``again_when`` names (an unknown script, a redirect); then ``again()``'s
    outcome does."""

    def settle(sent: asyncio.Future[Any]) -> None:
        error = None if sent.cancelled() else sent.exception()
        if again_when(error):
            retry = asyncio.ensure_future(again())
            retry.add_done_callback(lambda done: _copy(done, result))
        else:
            _copy(sent, result)

    return settle


def _noscript(error: BaseException | None) -> bool:
    return isinstance(error, ResponseError) and str(error).startswith("NOSCRIPT")


class Script:
    """A Lua script called by SHA, loaded on first NOSCRIPT (e.g. after a Redis restart)."""

    def __init__(self, source: str, name: str = "script", num_keys: int | None = None) -> None:
        self.source = source
        self.name = name
        self.num_keys = num_keys
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __repr__(self) -> str:
        return f"Script({self.name!r}, keys={self.num_keys})"


class FastRedis:
    """Example usage::

    redis = FastRedis(parse_redis_url("redis://127.0.0.1:6379/0"))
    await redis.call("SET", "k", "v")
    await redis.run(script, keys=[...], args=[...])
    """

    def __new__(cls, target: RedisTarget, connect_timeout: float = 2.0) -> FastRedis:
        # A cluster target gets the slot-routing client (redis/cluster.py), which keeps this
        # interface, so every place that opens a FastRedis works on a cluster unchanged.
        if cls is FastRedis and target.cluster:
            from .cluster import ClusterFastRedis

            return super().__new__(ClusterFastRedis)
        return super().__new__(cls)

    def __init__(self, target: RedisTarget, connect_timeout: float = 2.0) -> None:
        self.target = target
        self._ssl = target.ssl_context()
        self._timeout = connect_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None

    async def _connection(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and not protocol.lost:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            current = self._protocol
            if current is not None and not current.lost:
                return current
            loop = asyncio.get_running_loop()
            target = self.target
            try:
                if target.unix_path:
                    connect = loop.create_unix_connection(_Protocol, target.unix_path)
                else:
                    connect = loop.create_connection(
                        _Protocol, target.host, target.port, ssl=self._ssl,
                        server_hostname=target.host if self._ssl else None)
                # asyncio.timeout, not wait_for: on 3.11 wait_for can return a connection
                # that finished while the caller was being cancelled, swallowing the cancel.
                async with asyncio.timeout(self._timeout):
                    _, fresh = await connect
            except (TimeoutError, OSError) as err:
                raise ConnectionError(f"cannot connect to Redis at {target.where}: {err}") from err
            assert isinstance(fresh, _Protocol) and fresh.transport is not None
            try:
                if target.password:
                    auth = [target.username, target.password] if target.username \
                        else [target.password]
                    try:
                        await self._send(fresh, ("AUTH", *auth))
                    except ResponseError as err:
                        raise AuthenticationError(
                            f"Redis at {target.where} refused the credentials: {err}") from None
                if target.db:
                    await self._send(fresh, ("SELECT", target.db))
            except BaseException:
                fresh.transport.close()  # a wrong password must not leak a connection per call
                raise
            self._protocol = fresh
            return fresh

    def _send(self, protocol: _Protocol, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        protocol.send(hiredis.pack_command(args), future)
        return future

    async def call(self, *args: Any) -> Any:
        """Send one command; concurrent calls are pipelined on the one connection."""
        return await self._send(await self._connection(), args)

    async def pipeline(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Send several commands in one write; returns each reply or its exception."""
        protocol = await self._connection()
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        protocol.send(b"".join([hiredis.pack_command(c) for c in commands]), futures)
        return list(await asyncio.gather(*futures, return_exceptions=True))

    async def run(self, script: Script, keys: list[Any], args: list[Any]) -> Any:
        """EVALSHA, loading the script once if Redis does not know it."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self.call(*command)
        except ResponseError as err:
            if not _noscript(err):
                raise
        await self.call("SCRIPT", "LOAD", script.source)
        return await self.call(*command)

    def run_soon(self, script: Script, keys: list[Any], args: list[Any]) -> asyncio.Future[Any]:
        """run() as a future, sent at once: no coroutine or task per call when connected (a
        job's every progress update goes this way)."""
        protocol = self._protocol
        if protocol is None or protocol.lost:
            return asyncio.ensure_future(self.run(script, keys, args))
        result: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._send(protocol, ("EVALSHA", script.sha, len(keys), *keys, *args)).add_done_callback(
            settle_or_again(result, _noscript, lambda: self.run(script, keys, args)))
        return result

    async def run_many(
        self,
        calls: list[tuple[Script, list[Any], list[Any]]],
        then: Sequence[tuple[Any, ...]] = (),
        atomic: bool = False,
    ) -> list[Any]:
        """Scripts (then plain commands) in one round trip, in order; ``atomic`` wraps them in
        MULTI/EXEC. Scripts Redis does not know yet are loaded and the whole is sent again,
        which is safe because nothing ran (EVALSHA of an unknown script does nothing)."""
        commands = [("EVALSHA", s.sha, len(k), *k, *a) for s, k, a in calls] + list(then)
        if atomic:
            # Inside MULTI a NOSCRIPT would fail one command and run the others, so the
            # scripts are loaded first, in the same write.
            unique = {s.sha: s for s, _, _ in calls}.values()
            loads = [("SCRIPT", "LOAD", s.source) for s in unique]
            sent = await self.pipeline(*loads, ("MULTI",), *commands, ("EXEC",))
            _raise_lost(sent)
            executed = sent[-1]
            if not isinstance(executed, list):
                # EXECABORT (a command was refused while queued, e.g. OOM, or MOVED on a
                # cluster) or EXEC itself failed: nothing ran, and every command answers with
                # the refused command's own error (it says why), else EXEC's.
                queued = sent[len(loads) + 1:-1]
                error = next((r for r in queued if isinstance(r, ResponseError)), None) or (
                    executed if isinstance(executed, Exception) else ResponseError(
                        f"transaction not executed: {executed!r}"))
                return [error] * len(commands)
            replies = executed
        else:
            replies = await self.pipeline(*commands)
        _raise_lost(replies)
        unknown = [i for i, r in enumerate(replies[:len(calls)]) if _noscript(r)]
        if unknown and not atomic:
            # Load them, then send again only those: the others already ran.
            for script in {calls[i][0].sha: calls[i][0] for i in unknown}.values():
                await self.call("SCRIPT", "LOAD", script.source)
            again = await self.pipeline(*[commands[i] for i in unknown])
            _raise_lost(again)
            for i, reply in zip(unknown, again, strict=True):
                replies[i] = reply
        return replies

    async def aclose(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None

"""A lean, pipelined Redis client for the hot path (the worker's per-job script calls).

redis-py's asyncio client spends ~100-200 µs of CPU per command (pool checkout, retry
wrapper, callbacks); a job costs several commands, and the worker was CPU-bound on that. This
client keeps one connection, writes every command as soon as it is asked for (so concurrent
jobs share round trips), packs and parses in C (hiredis), and matches replies in order.
Blocking commands do not belong on it. On a lost connection every pending call fails with
ConnectionError and the next call reconnects.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections import deque
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlparse

import hiredis
from redis.exceptions import ConnectionError, ResponseError


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader(encoding="utf-8", errors="surrogateescape")
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False

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


class Script:
    """A Lua script called by SHA, loaded on first NOSCRIPT (e.g. after a Redis restart)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


class FastRedis:
    """Example usage::

    redis = FastRedis("redis://127.0.0.1:6379/0")
    await redis.call("SET", "k", "v")
    await redis.run(script, keys=[...], args=[...])
    """

    def __init__(self, url: str, connect_timeout: float = 2.0) -> None:
        parsed = urlparse(url)
        self._unix = parsed.path if parsed.scheme == "unix" else None
        self._host = parsed.hostname or "127.0.0.1"
        self._port = parsed.port or 6379
        self._password = unquote(parsed.password) if parsed.password else None
        self._username = unquote(parsed.username) if parsed.username else None
        db = parsed.path.lstrip("/") if parsed.scheme != "unix" else ""
        self._db = int(db) if db.isdigit() else 0
        self._ssl = parsed.scheme == "rediss"
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
            try:
                if self._unix:
                    connect = loop.create_unix_connection(_Protocol, self._unix)
                else:
                    connect = loop.create_connection(_Protocol, self._host, self._port,
                                                     ssl=self._ssl or None)
                _, fresh = await asyncio.wait_for(connect, self._timeout)
            except (TimeoutError, OSError) as err:
                raise ConnectionError(f"cannot connect to Redis: {err}") from err
            assert isinstance(fresh, _Protocol) and fresh.transport is not None
            try:
                if self._password:
                    auth = [self._username, self._password] if self._username else [self._password]
                    await self._send(fresh, ("AUTH", *auth))
                if self._db:
                    await self._send(fresh, ("SELECT", self._db))
            except BaseException:
                fresh.transport.close()  # a wrong password must not leak a connection per call
                raise
            self._protocol = fresh
            return fresh

    def _send(self, protocol: _Protocol, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        assert protocol.transport is not None
        protocol.transport.write(hiredis.pack_command(args))
        protocol.pending.append(future)
        return future

    async def call(self, *args: Any) -> Any:
        """Send one command; concurrent calls are pipelined on the one connection."""
        return await self._send(await self._connection(), args)

    async def pipeline(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Send several commands in one write; returns each reply or its exception."""
        protocol = await self._connection()
        assert protocol.transport is not None
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        protocol.transport.write(b"".join(hiredis.pack_command(c) for c in commands))
        protocol.pending.extend(futures)
        return list(await asyncio.gather(*futures, return_exceptions=True))

    async def run(self, script: Script, keys: list[Any], args: list[Any]) -> Any:
        """EVALSHA, loading the script once if Redis does not know it."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self.call(*command)
        except ResponseError as err:
            if not str(err).startswith("NOSCRIPT"):
                raise
        await self.call("SCRIPT", "LOAD", script.source)
        return await self.call(*command)

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
            loads = [("SCRIPT", "LOAD", s.source) for s, _, _ in calls]
            replies = await self.pipeline(*loads, ("MULTI",), *commands, ("EXEC",))
            replies = replies[-1] if isinstance(replies[-1], list) else replies
        else:
            replies = await self.pipeline(*commands)
        _raise_lost(replies)
        unknown = [i for i, r in enumerate(replies[:len(calls)])
                   if isinstance(r, ResponseError) and str(r).startswith("NOSCRIPT")]
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

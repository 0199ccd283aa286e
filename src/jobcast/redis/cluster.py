"""The hot-path client on a Redis Cluster: FastRedis's interface, routed by hash slot.

It keeps one FastRedis (one pipelined connection) per master and a map of which master
serves each of the 16384 slots (CLUSTER SLOTS). A command goes to the master of its first
key's slot; a pipeline is split per master, sent to all of them at once, and its replies put
back in order. A command without a key (MULTI, EXEC, SCRIPT LOAD in a batch) goes with the
batch's first key, which is how a transaction or a script call stays on its queue's master:
every key of a queue shares one slot (the queue is a hash tag, see _bullmq/keys.py).

When the cluster moves a slot (a failover, a resharding) the old master answers ``MOVED``:
the map is read again and the command sent where it now lives. ``ASK`` (a slot half-way
through a migration) sends that one command, after ASKING, to the node named. ``TRYAGAIN``
and ``CLUSTERDOWN`` (a failover under way) are retried after a short wait. A command
refused with one of these did nothing, so sending it again is safe.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.crc import key_slot
from redis.exceptions import ConnectionError, ResponseError

from .fast import FastRedis, Script, _raise_lost, settle_or_again
from .url import RedisTarget

log = logging.getLogger("jobcast")

SLOTS = 16384
REDIRECTS = 12
"""Times one command may be redirected or refused for a failover before its error stands."""
RETRY_WAIT_S = 0.1

Address = tuple[str, int]

_KEYLESS = frozenset({"PING", "MULTI", "EXEC", "DISCARD", "SCRIPT", "CONFIG", "CLIENT", "INFO",
                      "ASKING", "CLUSTER", "TIME", "PUBLISH", "ECHO", "HELLO", "AUTH", "SELECT"})
_EVAL = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})
_SPLIT = frozenset({"MGET", "EXISTS", "DEL", "UNLINK", "TOUCH"})
"""Multi-key commands that are sent one key at a time when their keys are in several slots."""


def command_key(command: Sequence[Any]) -> Any:
    """The key a command is routed by, or None for a command that has none."""
    name = str(command[0]).upper()
    if name in _KEYLESS or len(command) < 2:
        return None
    if name in _EVAL:
        return command[3] if int(command[2]) > 0 else None
    if name in ("XREAD", "XREADGROUP"):
        for n, arg in enumerate(command):
            if isinstance(arg, str) and arg.upper() == "STREAMS":
                return command[n + 1]
        return None
    return command[1]


def slot_of(key: Any) -> int:
    return key_slot(key.encode() if isinstance(key, str) else bytes(key))


async def _each_master(groups: dict[Address, list[int]],
                       send: Callable[[Address, list[int]], Awaitable[list[Any]]]
                       ) -> list[list[Any]]:
    """``send`` each master its group (the indices of its commands), the replies in the
    groups' order: awaited directly when one master has them all (the common case, one
    queue's commands: no task per node), else all at once."""
    if len(groups) == 1:
        ((address, idx),) = groups.items()
        return [await send(address, idx)]
    return list(await asyncio.gather(*[send(address, idx) for address, idx in groups.items()]))


def _redirect(reply: Any) -> tuple[str, int, Address] | None:
    """``MOVED``/``ASK``: (kind, slot, node); ``TRYAGAIN``/``CLUSTERDOWN``: (kind, -1, ("", 0))."""
    if not isinstance(reply, ResponseError):
        return None
    text = str(reply)
    kind = text.split(" ", 1)[0]
    if kind in ("MOVED", "ASK"):
        _, slot, where = text.split(" ")
        host, _, port = where.rpartition(":")
        return kind, int(slot), (host, int(port))
    if kind in ("TRYAGAIN", "CLUSTERDOWN"):
        return kind, -1, ("", 0)
    if kind in ("READONLY", "UNBLOCKED"):
        # Sent to a master that has just become a replica (a failover): it refused, or
        # ended a blocking command; the slot map says where the master is now.
        return "MOVED", -1, ("", 0)
    if kind == "EXECABORT" and ("MOVED" in text or "TRYAGAIN" in text or "CLUSTERDOWN" in text):
        return "CLUSTERDOWN", -1, ("", 0)  # a transaction refused for where it was sent
    return None


class ClusterFastRedis(FastRedis):
    """FastRedis on a Redis Cluster (made by ``FastRedis(target)`` for a cluster target)."""

    def __init__(self, target: RedisTarget, connect_timeout: float = 2.0) -> None:
        self.target = target
        self._timeout = connect_timeout
        self._nodes: dict[Address, FastRedis] = {}
        self._slots: list[Address | None] = [None] * SLOTS
        self._known: list[Address] = list(target.cluster_nodes)
        self._mapping: asyncio.Lock | None = None
        self._mapped = 0
        """How often the slot map was read (for a reader of it to see it change)."""

    # -- the slot map ---------------------------------------------------------------------

    def _node(self, address: Address) -> FastRedis:
        node = self._nodes.get(address)
        if node is None:
            node = self._nodes[address] = FastRedis(self.target.node(*address), self._timeout)
        return node

    async def refresh(self, seen: int | None = None) -> None:
        """Read the slot map again (once for every caller that saw the same, stale map)."""
        if self._mapping is None:
            self._mapping = asyncio.Lock()
        async with self._mapping:
            if seen is not None and seen != self._mapped:
                return  # someone else read it meanwhile
            errors: list[str] = []
            for address in dict.fromkeys([*self._masters(), *self._known]):
                try:
                    async with asyncio.timeout(self._timeout + 1):
                        reply = await self._node(address).call("CLUSTER", "SLOTS")
                except (TimeoutError, OSError, ConnectionError, ResponseError) as err:
                    errors.append(f"{address[0]}:{address[1]}: {err}")
                    continue
                self._apply(reply, address)
                return
            raise ConnectionError(f"no node of the Redis Cluster answered: {'; '.join(errors)}")

    def _apply(self, reply: list[Any], asked: Address) -> None:
        slots: list[Address | None] = [None] * SLOTS
        for start, end, master, *replicas in reply:
            host = master[0] or asked[0]  # an empty host means "the one you asked"
            address = (host if host != "?" else asked[0], int(master[1]))
            for slot in range(int(start), int(end) + 1):
                slots[slot] = address
            for replica in replicas:
                known = (replica[0] or asked[0], int(replica[1]))
                if known not in self._known:
                    self._known.append(known)
            if address not in self._known:
                self._known.append(address)
        # A demoted master's connection stays open: commands in flight on it get their own
        # answer (MOVED: not run), where closing it would leave them unknown.
        self._slots = slots
        self._mapped += 1

    def _masters(self) -> list[Address]:
        return list(dict.fromkeys(a for a in self._slots if a is not None))

    async def _master_of(self, slot: int) -> Address:
        address = self._slots[slot]
        if address is None:
            await self.refresh(self._mapped)
            address = self._slots[slot]
            if address is None:
                raise ConnectionError(f"no master of the Redis Cluster serves slot {slot}")
        return address

    async def _any_master(self) -> Address:
        if not any(self._slots):
            await self.refresh(self._mapped)
        masters = self._masters()
        if not masters:
            raise ConnectionError("the Redis Cluster has no master serving slots")
        return random.choice(masters)

    async def _all_masters(self) -> list[Address]:
        if not any(self._slots):
            await self.refresh(self._mapped)
        return self._masters()

    async def _settle(self, problems: list[tuple[str, int, Address]]) -> None:
        """Before sending refused commands again: learn where their slots are now."""
        if any(kind in ("TRYAGAIN", "CLUSTERDOWN") for kind, _, _ in problems):
            await asyncio.sleep(RETRY_WAIT_S)
        if any(kind != "ASK" for kind, _, _ in problems):
            try:
                await self.refresh(self._mapped)
            except ConnectionError as err:
                log.warning("Redis Cluster: reading its slot map failed (%s)", err)

    # -- FastRedis's interface ------------------------------------------------------------

    async def call(self, *args: Any) -> Any:
        if [str(a).upper() for a in args[:2]] == ["CLIENT", "LIST"]:
            lists = await asyncio.gather(*[self._node(a).call(*args)
                                           for a in await self._all_masters()])
            return _one_line_per_name(lists)
        (reply,) = await self.pipeline(args)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def pipeline(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Every command on its slot's master (all masters at once); replies in order."""
        expanded, joins = _split_multi_key(commands)
        replies = await self._routed(expanded)
        return _join_split(replies, joins)

    async def _routed(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        replies: list[Any] = [None] * len(commands)
        anchor = next((k for k in map(command_key, commands) if k is not None), None)
        todo = list(range(len(commands)))
        asks: dict[int, Address] = {}
        for _attempt in range(REDIRECTS):
            groups: dict[Address, list[int]] = {}
            default = None if anchor is not None else await self._any_master()
            for i in todo:
                key = command_key(commands[i])
                if i in asks:
                    address = asks[i]
                elif key is None and anchor is None:
                    address = default  # type: ignore[assignment]
                else:
                    slot = slot_of(key if key is not None else anchor)
                    address = self._slots[slot] or await self._master_of(slot)
                groups.setdefault(address, []).append(i)
            def send(address: Address, idx: list[int],
                     asks: dict[int, Address] = asks) -> Awaitable[list[Any]]:
                return self._send_group(address, [commands[i] for i in idx],
                                        [i in asks for i in idx])

            sent = await _each_master(groups, send)
            problems: list[tuple[str, int, Address]] = []
            again: list[int] = []
            asks = {}
            for idx, group_replies in zip(groups.values(), sent, strict=True):
                for i, reply in zip(idx, group_replies, strict=True):
                    replies[i] = reply
                    redirect = _redirect(reply)
                    if redirect is not None:
                        problems.append(redirect)
                        again.append(i)
                        if redirect[0] == "ASK":
                            asks[i] = redirect[2]
            if not again:
                return replies
            await self._settle(problems)
            todo = again
        return replies  # still refused after every retry: the callers see the error

    async def _send_group(self, address: Address, commands: list[tuple[Any, ...]],
                          asking: list[bool]) -> list[Any]:
        node = self._node(address)
        if not any(asking):
            try:
                return await node.pipeline(*commands)
            except (ConnectionError, OSError) as err:
                return [err] * len(commands)
        # ASK: that one command, right after ASKING, on the node being migrated to.
        flat: list[tuple[Any, ...]] = []
        for command, ask in zip(commands, asking, strict=True):
            flat += [("ASKING",), command] if ask else [command]
        try:
            raw = await node.pipeline(*flat)
        except (ConnectionError, OSError) as err:
            return [err] * len(commands)
        out, n = [], 0
        for ask in asking:
            n += 1 if ask else 0
            out.append(raw[n])
            n += 1
        return out

    async def run(self, script: Script, keys: list[Any], args: list[Any]) -> Any:
        (reply,) = await self.run_many([(script, keys, args)])
        if isinstance(reply, Exception):
            raise reply
        return reply

    def run_soon(self, script: Script, keys: list[Any], args: list[Any]) -> asyncio.Future[Any]:
        """FastRedis.run_soon on the master of the script's first key (a job's progress
        updates go this way); a redirected call is sent again through run()."""
        address = self._slots[slot_of(keys[0])] if keys else None
        if address is None:
            return asyncio.ensure_future(self.run(script, keys, args))
        result: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._node(address).run_soon(script, keys, args).add_done_callback(settle_or_again(
            result, lambda error: _redirect(error) is not None,
            lambda: self.run(script, keys, args)))
        return result

    async def run_many(
        self,
        calls: list[tuple[Script, list[Any], list[Any]]],
        then: Sequence[tuple[Any, ...]] = (),
        atomic: bool = False,
    ) -> list[Any]:
        """FastRedis.run_many on each master, the calls grouped by where their keys live; an
        atomic batch must be in one slot (one queue), as on any Redis Cluster."""
        items: list[tuple[str, Any]] = [("call", c) for c in calls] + [("then", t) for t in then]
        keys = [c[1][0] if c[1] else None for c in calls] + [command_key(t) for t in then]
        anchor = next((k for k in keys if k is not None), None)
        replies: list[Any] = [None] * len(items)
        todo = list(range(len(items)))
        for _attempt in range(REDIRECTS):
            groups: dict[Address, list[int]] = {}
            for i in todo:
                key = keys[i] if keys[i] is not None else anchor
                address = await (self._master_of(slot_of(key)) if key is not None
                                 else self._any_master())
                if atomic:  # one transaction, on the master of its first key
                    address = await (self._master_of(slot_of(anchor)) if anchor is not None
                                     else self._any_master())
                groups.setdefault(address, []).append(i)
            sent = await _each_master(groups, lambda address, idx: self._run_group(
                address, [items[i] for i in idx], atomic))
            problems: list[tuple[str, int, Address]] = []
            again: list[int] = []
            for idx, group_replies in zip(groups.values(), sent, strict=True):
                redirected = [r for r in map(_redirect, group_replies) if r is not None]
                if atomic and redirected:  # nothing of the transaction ran: all again
                    problems += redirected
                    again += idx
                    continue
                for i, reply in zip(idx, group_replies, strict=True):
                    replies[i] = reply
                    redirect = _redirect(reply)
                    if redirect is not None:
                        problems.append(redirect)
                        again.append(i)
            if not again:
                break
            await self._settle([(k if k != "ASK" else "MOVED", s, a) for k, s, a in problems])
            todo = again
        _raise_lost(replies)
        return replies

    async def _run_group(self, address: Address, items: list[tuple[str, Any]],
                         atomic: bool) -> list[Any]:
        calls = [c for kind, c in items if kind == "call"]
        then = [c for kind, c in items if kind == "then"]
        try:
            replies = await self._node(address).run_many(calls, then=then, atomic=atomic)
        except (ConnectionError, OSError) as err:
            return [err] * len(items)
        # run_many answers the calls, then the plain commands: back in the items' order
        by_kind = {"call": iter(replies[:len(calls)]), "then": iter(replies[len(calls):])}
        return [next(by_kind[kind]) for kind, _ in items]

    async def aclose(self) -> None:
        nodes, self._nodes = list(self._nodes.values()), {}
        for node in nodes:
            await node.aclose()


def _split_multi_key(commands: Sequence[tuple[Any, ...]]
                     ) -> tuple[list[tuple[Any, ...]], list[tuple[str, int]]]:
    """MGET/EXISTS/DEL over keys of several slots (refused by a cluster) become one command per
    key; ``joins`` says how to put each original command's reply back together."""
    out: list[tuple[Any, ...]] = []
    joins: list[tuple[str, int]] = []
    for command in commands:
        name = str(command[0]).upper()
        if name in _SPLIT and len(command) > 2 and len({slot_of(k) for k in command[1:]}) > 1:
            out += [(command[0], key) for key in command[1:]]
            joins.append(("list" if name == "MGET" else "sum", len(command) - 1))
        else:
            out.append(command)
            joins.append(("one", 1))
    return out, joins


def _join_split(replies: list[Any], joins: list[tuple[str, int]]) -> list[Any]:
    out: list[Any] = []
    n = 0
    for how, count in joins:
        part = replies[n:n + count]
        n += count
        error = next((r for r in part if isinstance(r, Exception)), None)
        if how == "one":
            out.append(part[0])
        elif error is not None:
            out.append(error)
        elif how == "list":
            out.append([r[0] for r in part])
        else:
            out.append(sum(int(r) for r in part))
    return out


def _one_line_per_name(lists: list[Any]) -> str:
    """Every master's CLIENT LIST as one, a named client once: a cluster client (redis-py's,
    ioredis's) opens a connection to each node under one name, and a BullMQ worker is counted
    by the names of its connections."""
    lines: list[str] = []
    names: set[str] = set()
    for listing in lists:
        for line in str(listing).splitlines():
            name = next((p[5:] for p in line.split(" ") if p.startswith("name=")), "")
            if name in names:
                continue
            if name:
                names.add(name)
            lines.append(line)
    return "\n".join(lines) + "\n"

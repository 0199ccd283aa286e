"""redis-py clients for the paths that are not hot (pub/sub, blocking pops, rare scripts),
with timeouts that fail fast: a request must get its 503 in seconds, not minutes."""

from __future__ import annotations

from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, RedisError, TimeoutError

from .url import RedisTarget

REDIS_ERRORS = (ConnectionError, TimeoutError, OSError)
"""What a lost or unreachable Redis raises."""

REDIS_FAULTS = (RedisError, OSError)
"""Anything Redis can answer instead of doing the work, LOADING or READONLY included: the
long-running loops wait and retry on these rather than end."""


def connect(target: RedisTarget, *, read_timeout: float | None = 5,
            name: str | None = None) -> Redis:
    """A pooled client; commands in flight at once each get a connection.

    ``read_timeout`` must outlast any blocking command sent on this client (XREAD BLOCK,
    BZPOPMIN); None waits for ever. ``name`` is each connection's CLIENT SETNAME. For a
    cluster target it is redis-py's RedisCluster (see _ClusterClient).
    """
    if target.cluster:
        return cast(Redis, _ClusterClient(target, **_options(read_timeout, name)))
    return Redis(**target.redis_py_kwargs(), **_options(read_timeout, name))


def _options(read_timeout: float | None, name: str | None) -> dict[str, Any]:
    return dict(
        client_name=name,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=read_timeout,
        socket_keepalive=True,
        health_check_interval=30 if read_timeout else 0,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        retry_on_error=[ConnectionError, TimeoutError],
    )


class _ClusterClient(RedisCluster):
    """redis-py's RedisCluster (it routes by slot and follows MOVED itself) for the commands
    jobcast sends on these clients: one-key commands, blocking pops, SCAN over every node.

    Its asyncio form has no pub/sub, so ``pubsub()`` subscribes on one node: a cluster
    delivers every PUBLISH to the subscribers of every node.
    """

    def __init__(self, target: RedisTarget, **options: Any) -> None:
        kwargs = {k: v for k, v in target.redis_py_kwargs().items()
                  if k not in ("host", "port", "db")}
        super().__init__(startup_nodes=[ClusterNode(h, p) for h, p in target.cluster_nodes],
                         **kwargs, **options)
        self._subscriber = Redis(**target.node(*target.cluster_nodes[0]).redis_py_kwargs(),
                                 **options)

    def pubsub(self, **kwargs: Any) -> PubSub:
        return self._subscriber.pubsub(**kwargs)

    async def aclose(self) -> None:
        await super().aclose()
        await self._subscriber.aclose()

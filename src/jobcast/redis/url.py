"""One reading of a Redis URL for every client jobcast opens.

redis-py's own parser decides what a URL means (``redis://``, ``rediss://``, ``unix://``,
``/5`` or ``?db=5``, user and password, TLS options), and both the pipelined hot-path client
and the redis-py pools are built from the same RedisTarget, so they always reach the same
database.

A Redis Cluster is ``redis+cluster://[user:password@]host:port,host:port,...`` (or
``rediss+cluster://`` for TLS): the hosts are seeds, any of the cluster's nodes; the rest of
the cluster is learnt from them (CLUSTER SLOTS). A cluster has only database 0.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field, replace
from typing import Any

from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url

FORMS = ("redis://[user:password@]host:port/db, rediss://… (TLS), unix:///path/to/redis.sock "
         "or redis+cluster://host:port,host:port (Redis Cluster)")
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


@dataclass(frozen=True)
class RedisTarget:
    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None
    unix_path: str | None = None
    tls: bool = False
    tls_options: dict[str, Any] = field(default_factory=dict)
    """redis-py's ssl_* options from the URL (ssl_ca_certs, ssl_certfile, ...)."""
    cluster_nodes: tuple[tuple[str, int], ...] = ()
    """A Redis Cluster's seed nodes; empty for a single Redis."""

    @property
    def cluster(self) -> bool:
        return bool(self.cluster_nodes)

    def node(self, host: str, port: int) -> RedisTarget:
        """One node of this cluster, with the same credentials and TLS options."""
        return replace(self, host=host, port=port, cluster_nodes=())

    @property
    def where(self) -> str:
        """For messages: where this Redis is, never its password."""
        if self.cluster_nodes:
            nodes = ",".join(f"{h}:{p}" for h, p in self.cluster_nodes)
            return f"cluster {nodes}{' (TLS)' if self.tls else ''}"
        if self.unix_path:
            return f"unix:{self.unix_path} db {self.db}"
        return f"{self.host}:{self.port} db {self.db}{' (TLS)' if self.tls else ''}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for a raw asyncio connection, from the same options redis-py uses."""
        if not self.tls:
            return None
        opts = self.tls_options
        context = ssl.create_default_context(cafile=opts.get("ssl_ca_certs"),
                                             capath=opts.get("ssl_ca_path"))
        if opts.get("ssl_certfile"):
            context.load_cert_chain(opts["ssl_certfile"], opts.get("ssl_keyfile"))
        reqs = str(opts.get("ssl_cert_reqs", "required")).lower()
        if reqs in ("none", "cert_none"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif str(opts.get("ssl_check_hostname", "true")).lower() in ("false", "0", "no"):
            context.check_hostname = False
        return context

    def redis_py_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for redis-py's ``Redis(...)`` that reach this same server."""
        kwargs: dict[str, Any] = {"db": self.db, "username": self.username,
                                  "password": self.password}
        if self.unix_path:
            kwargs["unix_socket_path"] = self.unix_path
        else:
            kwargs.update(host=self.host, port=self.port)
        if self.tls:
            kwargs["ssl"] = True
            kwargs.update(self.tls_options)
        return kwargs


def parse_redis_url(url: str, ca_file: str | None = None) -> RedisTarget:
    """Parse ``url`` as redis-py does; ValueError (naming the accepted forms) if it is not one.

    ``ca_file`` (``JOBCAST_REDIS_CA``) is the CA certificate for ``rediss://`` when the URL
    does not name one.
    """
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in CLUSTER_SCHEMES:
        return _parse_cluster_url(CLUSTER_SCHEMES[scheme.lower()], rest, ca_file)
    try:
        parsed = parse_url(url)
    except (ValueError, TypeError):
        raise ValueError(f"not a Redis URL; expected {FORMS}") from None
    klass = parsed.pop("connection_class", None)
    tls = klass is SSLConnection
    options = {k: v for k, v in parsed.items() if k.startswith("ssl_")}
    if tls and ca_file and "ssl_ca_certs" not in options:
        options["ssl_ca_certs"] = ca_file
    db = parsed.get("db", 0)
    try:
        db = int(db)
    except (TypeError, ValueError):
        raise ValueError(f"the database in {url!r} is not a number; expected {FORMS}") from None
    return RedisTarget(
        host=parsed.get("host") or "127.0.0.1",
        port=int(parsed.get("port") or 6379),
        db=db,
        username=parsed.get("username") or None,
        password=parsed.get("password") or None,
        unix_path=parsed.get("path") if klass is UnixDomainSocketConnection else None,
        tls=tls,
        tls_options=options,
    )


def _parse_cluster_url(scheme: str, rest: str, ca_file: str | None) -> RedisTarget:
    """``host:port,host:port[/0][?options]`` after the scheme: each host a seed node; the
    credentials and options (read by redis-py's parser) hold for every node."""
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    location, tail = rest[:end], rest[end:]
    userinfo, at, hosts = location.rpartition("@")
    nodes: list[tuple[str, int]] = []
    for part in hosts.split(","):
        host, colon, port = part.strip().rpartition(":")
        if not colon:
            host, port = part.strip(), "6379"
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{part!r} is not a cluster node (host:port); expected {FORMS}")
        nodes.append((host, int(port)))
    first = parse_redis_url(f"{scheme}://{userinfo}{at}{hosts.split(',')[0]}{tail}", ca_file)
    if first.db:
        raise ValueError("a Redis Cluster has only database 0; drop the /db from the URL")
    return replace(first, cluster_nodes=tuple(nodes))

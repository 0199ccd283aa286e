"""A real Redis Cluster on loopback for the tests: 3 masters and 3 replicas, each a
redis-server with ``--cluster-enabled yes`` in a temp folder, joined by
``redis-cli --cluster create --cluster-replicas 1``."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import redis as redis_py
from redis.cluster import ClusterNode
from redis.crc import key_slot

from .tools import require_tool
from .waiting import wait_for


def _free_pair(taken: set[int]) -> int:
    """A port P with P+10000 (its cluster bus) free too, neither among ``taken`` (the ports
    and buses of the nodes picked before, not listening yet)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port >= 55535 or {port, port + 10000} & taken:
            continue
        try:
            with socket.socket() as bus:
                bus.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        taken.update((port, port + 10000))
        return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisClusterServers:
    """Example usage::

        cluster = RedisClusterServers().start()
        cluster.url            # "redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3"
        cluster.master_of("steady")   # the port of the master serving queue steady's slot
        cluster.failover(port)        # its replica takes over (CLUSTER FAILOVER)
        cluster.stop()
    """

    def __init__(self, masters: int = 3, replicas: int = 1) -> None:
        self.count = masters * (1 + replicas)
        self.replicas = replicas
        self.dir = Path(tempfile.mkdtemp(prefix="jobcast-test-cluster-"))
        self.ports: list[int] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, timeout: float = 30.0) -> RedisClusterServers:
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()  # nothing is left running when the cluster could not form
            raise

    def _start(self, timeout: float) -> RedisClusterServers:
        server = require_tool("redis-server", "apt-get install redis-server")
        cli = require_tool("redis-cli", "apt-get install redis-tools")
        taken: set[int] = set()
        for _ in range(self.count):
            port = _free_pair(taken)
            self.ports.append(port)
            node = self.dir / str(port)
            node.mkdir()
            self.procs.append(subprocess.Popen(
                [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", str(node / "nodes.conf"),
                 "--cluster-node-timeout", "3000", "--dir", str(node), "--save", "",
                 "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"],
                stdout=(node / "out.log").open("wb"), stderr=subprocess.STDOUT,
                start_new_session=True))
        for port in self.ports:
            wait_for(lambda p=port: self._answers(p), timeout=10, what=f"cluster node {port}")
        created = subprocess.run(
            [cli, "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            capture_output=True, text=True, timeout=timeout)
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout}"
                               f"{created.stderr}")
        self.wait_healthy(timeout)
        return self

    def _answers(self, port: int) -> bool:
        try:
            with redis_py.Redis(port=port, socket_timeout=1) as r:
                return bool(r.ping())
        except redis_py.RedisError:
            return False

    def node(self, port: int) -> redis_py.Redis:
        return redis_py.Redis(port=port, decode_responses=True, socket_timeout=5)

    def info(self, port: int, section: str) -> dict[str, Any]:
        with self.node(port) as r:
            return dict(r.info(section))

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Every node says cluster_state:ok, sees every slot covered, and each replica is in
        sync with its master (a manual failover needs that)."""
        def healthy() -> bool:
            for port in self.ports:
                with self.node(port) as r:
                    info = r.execute_command("CLUSTER", "INFO")
                    text = info if isinstance(info, str) else str(info)
                    if "cluster_state:ok" not in text or "cluster_slots_ok:16384" not in text:
                        return False
                    replication = r.info("replication")
                    if replication["role"] == "slave" and \
                            replication.get("master_link_status") != "up":
                        return False
            return len(self.masters()) == self.count // (1 + self.replicas)
        wait_for(healthy, timeout=timeout, what="the Redis Cluster healthy")

    def slots(self) -> list[list[Any]]:
        with self.node(self.ports[0]) as r:
            return list(r.execute_command("CLUSTER", "SLOTS"))

    def masters(self) -> list[int]:
        """The ports of the nodes that are masters now."""
        return [p for p in self.ports if self.info(p, "replication")["role"] == "master"]

    def master_of(self, queue: str) -> int:
        """The port of the master serving a queue's hash tag (its every key)."""
        slot = key_slot(queue.encode())
        for start, end, master, *_ in self.slots():
            if int(start) <= slot <= int(end):
                return int(master[1])
        raise LookupError(f"no master serves slot {slot}")

    def replica_of(self, master: int) -> int:
        with self.node(master) as r:
            replication = r.info("replication")
        return int(replication["slave0"]["port"])

    def failover(self, master: int, timeout: float = 30.0) -> int:
        """``CLUSTER FAILOVER`` on the master's replica (a coordinated failover: the replica
        catches up, then takes the slots); the new master's port once the cluster is ok."""
        replica = self.replica_of(master)
        with self.node(replica) as r:
            r.execute_command("CLUSTER", "FAILOVER")
        wait_for(lambda: self.info(replica, "replication")["role"] == "master",
                 timeout=timeout, what=f"replica {replica} promoted")
        self.wait_healthy(timeout)
        return replica

    @property
    def url(self) -> str:
        masters = self.masters()
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in masters)

    def client(self, db: int = 0) -> redis_py.RedisCluster:
        return redis_py.RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p)
                                                    for p in self.ports],
                                     decode_responses=True)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


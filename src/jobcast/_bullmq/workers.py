"""Worker discovery, as BullMQ does it: a worker names its blocking connection after its queue
(``CLIENT SETNAME <prefix>:<base64 queue>[:w:<worker name>]``), and ``Queue.getWorkers()``
(Bull Board's worker count, jobcast's /readyz) finds them in ``CLIENT LIST``."""

from __future__ import annotations

import base64


def client_name(prefix: str, queue: str, worker: str | None = None) -> str:
    name = f"{prefix}:{base64.b64encode(queue.encode()).decode()}"
    return f"{name}:w:{worker}" if worker else name


def count_workers(client_list: str, prefix: str, queue: str) -> int:
    """How many connections in a CLIENT LIST reply belong to workers of ``queue``."""
    base = client_name(prefix, queue)
    count = 0
    for line in client_list.splitlines():
        for part in line.split(" "):
            if part.startswith("name="):
                name = part[5:]
                if name == base or name.startswith(base + ":w:"):
                    count += 1
                break
    return count

"""The Redis keys of a BullMQ queue: ``<prefix>:<queue>:<suffix>``, as BullMQ 6 names them.

On a Redis Cluster every key a BullMQ script touches must be in one hash slot, so there the
queue's name is wrapped in braces, a hash tag: ``bull:{report}:wait``. That is exactly what a
Node BullMQ queue named ``{report}`` uses (``new Queue("{report}")``, prefix ``bull``), so
Node producers and workers share jobcast's queues on a cluster; each queue lives on one master,
and different queues spread over the masters.
"""

from __future__ import annotations


class QueueKeys:
    """Example usage::

        keys = QueueKeys("bull", "report")
        keys.wait            # "bull:report:wait"
        keys.job("abc")      # "bull:report:abc"
        QueueKeys("bull", "report", tagged=True).wait   # "bull:{report}:wait" (a cluster)
    """

    __slots__ = ("prefix", "queue", "name", "base", "active", "wait", "paused", "prioritized", "delayed",
                 "completed", "failed", "stalled", "stalled_check", "limiter", "meta", "events",
                 "pc", "marker", "id", "repeat", "waiting_children", "metrics_completed",
                 "metrics_failed")

    def __init__(self, prefix: str, queue: str, tagged: bool = False) -> None:
        self.prefix = prefix
        self.queue = queue
        self.name = f"{{{queue}}}" if tagged else queue
        """The queue's name as BullMQ knows it (in its keys, and in Node's ``new Queue``)."""
        self.base = f"{prefix}:{self.name}:"
        b = self.base
        self.active, self.wait, self.paused = b + "active", b + "wait", b + "paused"
        self.prioritized, self.delayed = b + "prioritized", b + "delayed"
        self.completed, self.failed = b + "completed", b + "failed"
        self.stalled, self.stalled_check = b + "stalled", b + "stalled-check"
        self.limiter, self.meta, self.events = b + "limiter", b + "meta", b + "events"
        self.pc, self.marker, self.id, self.repeat = b + "pc", b + "marker", b + "id", b + "repeat"
        self.waiting_children = b + "waiting-children"
        self.metrics_completed, self.metrics_failed = b + "metrics:completed", b + "metrics:failed"

    def job(self, job_id: str) -> str:
        return self.base + job_id

    def lock(self, job_id: str) -> str:
        return f"{self.base}{job_id}:lock"

    def logs(self, job_id: str) -> str:
        return f"{self.base}{job_id}:logs"

    def processed(self, job_id: str) -> str:
        """A parent's hash of its children's results (``getChildrenValues``)."""
        return f"{self.base}{job_id}:processed"

    def finished(self, target: str) -> str:
        return self.completed if target == "completed" else self.failed

    def metrics(self, target: str) -> str:
        return self.metrics_completed if target == "completed" else self.metrics_failed

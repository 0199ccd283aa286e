"""The worker side: consumer loops on BullMQ's scripts, the handler runner, cpu children."""

from .heartbeat import check_heartbeat
from .worker import JobWorker

__all__ = ["JobWorker", "check_heartbeat"]

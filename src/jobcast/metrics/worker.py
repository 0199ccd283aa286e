"""The workers' metrics, on a port of their own (``JOBCAST_METRICS_PORT``).

Why not through the web process: in production workers run in other containers or on other
machines than the web, and a web cannot see their counts; a scrape of each worker is what
Prometheus does for any fleet. Several worker processes of one ``jobcast worker --processes N``
share the port: the supervisor serves it and the processes write their values to files
(prometheus_client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``), summed at each scrape.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from ..settings import Settings

log = logging.getLogger("jobcast.worker")

DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
WAIT_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)


class WorkerMetrics:
    """Example usage::

        metrics = WorkerMetrics()
        metrics.started("report", timestamp_ms, delay_ms, first_run=True)   # a job taken
        metrics.finished("report", "completed", took_s=1.5)                 # and recorded
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        where: dict[str, Any] = {"registry": registry or REGISTRY}
        self.jobs_finished = Counter(
            "jobcast_jobs_finished_total", "Jobs that reached a final state, by job and state",
            ["job", "state"], **where)
        self.retried = Counter(
            "jobcast_jobs_retried_total", "Failed attempts that will run again", ["job"],
            **where)
        self.handed_back = Counter(
            "jobcast_jobs_handed_back_total", "Jobs given back to their queue unfinished (the "
            "worker stopped, a rate limit)", ["job"], **where)
        self.stalled = Counter(
            "jobcast_jobs_stalled_total", "Jobs found stalled (their worker stopped renewing "
            "the lock) and moved back to wait by this worker", ["queue"], **where)
        self.duration = Histogram(
            "jobcast_job_duration_seconds", "How long one run of a job took", ["job"],
            buckets=DURATION_BUCKETS, **where)
        self.wait = Histogram(
            "jobcast_job_wait_seconds", "From enqueue (or its delay's end) to its first run",
            ["job"], buckets=WAIT_BUCKETS, **where)
        self.in_progress = Gauge(
            "jobcast_jobs_in_progress", "Jobs running now", ["job"],
            multiprocess_mode="livesum", **where)

    def started(self, name: str, timestamp_ms: int, delay_ms: int, first_run: bool) -> None:
        self.in_progress.labels(name).inc()
        if first_run and timestamp_ms:
            waited = time.time() - (timestamp_ms + delay_ms) / 1000
            self.wait.labels(name).observe(max(0.0, waited))

    def finished(self, name: str, ended: str, took_s: float) -> None:
        """``ended``: completed, failed, cancelled (final), retried, or handed_back."""
        self.in_progress.labels(name).dec()
        if ended == "handed_back":
            self.handed_back.labels(name).inc()
            return
        self.duration.labels(name).observe(took_s)
        if ended == "retried":
            self.retried.labels(name).inc()
        else:
            self.jobs_finished.labels(name, ended).inc()


_metrics: WorkerMetrics | None = None


def worker_metrics() -> WorkerMetrics:
    """This process's worker metrics (one set, however many workers it runs)."""
    global _metrics
    if _metrics is None:
        _metrics = WorkerMetrics()
    return _metrics


def metrics_wanted(settings: Settings) -> bool:
    """Whether anything can scrape them: a metrics port, or a supervisor's multiprocess dir."""
    return settings.metrics_port is not None or bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def serve_worker_metrics(port: int, host: str) -> None:
    """Serve this process's metrics (or, in multiprocess mode, every worker's) on ``port``."""
    from prometheus_client import start_http_server

    registry: CollectorRegistry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, addr=host, registry=registry)
    log.info("worker metrics on http://%s:%d/metrics", host, port)

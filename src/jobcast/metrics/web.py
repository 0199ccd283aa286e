"""The web process's metrics at ``GET /metrics`` (Prometheus text format).

Counts that only this process sees (enqueue answers) are counted as they happen; everything
else (sockets, rooms, the bridge, each queue's jobs by state) is read when Prometheus scrapes,
so a scrape costs one Redis pipeline and nothing is counted between scrapes.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..queue import STATES


class _LiveState(Collector):
    """What the process holds now and each queue's depth (read at the scrape)."""

    def __init__(self, stats: Callable[[], Mapping[str, Any]]) -> None:
        self.stats = stats
        self.depths: dict[str, dict[str, int]] = {}

    def collect(self) -> Iterator[Any]:
        stats = self.stats()
        bridge = stats["bridge"]
        for name, help_text, value in (
                ("jobcast_sockets", "Socket.IO connections to this web process",
                 stats["sockets"]),
                ("jobcast_event_streams", "Open Server-Sent-Event streams", stats["streams"]),
                ("jobcast_rooms", "Jobs watched by at least one socket or stream",
                 stats["rooms"]),
                ("jobcast_bridge_connected", "1 while the bridge reads the event streams",
                 int(bridge["connected"]))):
            yield GaugeMetricFamily(name, help_text, value=value)
        lag = bridge["lag_ms"]
        yield GaugeMetricFamily(
            "jobcast_bridge_lag_seconds", "Now minus the time of the newest event the bridge "
            "read (grows while it falls behind, or while no job moves)",
            value=lag / 1000 if lag is not None else float("nan"))
        yield CounterMetricFamily(
            "jobcast_bridge_resyncs", "Times the bridge found events trimmed before it read them "
            "and caught its sockets up from the jobs' state", value=bridge["resyncs"])
        yield CounterMetricFamily(
            "jobcast_bridge_reconnects", "Times the bridge reconnected to Redis",
            value=bridge["reconnects"])
        jobs = GaugeMetricFamily("jobcast_queue_jobs", "Jobs in each queue by state",
                                 labels=["queue", "state"])
        for queue, by_state in self.depths.items():
            for state in STATES:
                jobs.add_metric([queue, state], by_state[state])
        yield jobs


class WebMetrics:
    """Example usage::

        metrics = WebMetrics(app.stats)
        metrics.enqueued("report", 202)
        body = metrics.render(depths)            # at GET /metrics
    """

    def __init__(self, stats: Callable[[], Mapping[str, Any]]) -> None:
        self.registry = CollectorRegistry()  # this app's own: two apps in one process stay apart
        self._enqueues = Counter(
            "jobcast_enqueue_requests_total", "POST /api/<job> answers by job and status code",
            ["job", "code"], registry=self.registry)
        self._live = _LiveState(stats)
        self.registry.register(self._live)

    def enqueued(self, job: str, code: int) -> None:
        self._enqueues.labels(job, str(code)).inc()

    def render(self, depths: dict[str, dict[str, int]]) -> tuple[bytes, str]:
        self._live.depths = depths
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def may_scrape(token: str | None, authorization: str | None, address: str | None) -> bool:
    """With a token, the scrape must bring it (``Authorization: Bearer``, what a Prometheus
    scrape config sends); without one, only this machine may scrape."""
    if token:
        given = (authorization or "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False

"""The metrics the code exposes, docs/operations.md lists and the Grafana dashboard charts are
the same ones: none may drift from the others."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from jobcast.metrics.web import WebMetrics
from jobcast.metrics.worker import WorkerMetrics

REPO = Path(__file__).resolve().parents[2]
NAME = re.compile(r"jobcast_[a-z_]+")
STATS = {"sockets": 0, "streams": 0, "rooms": 0,
         "bridge": {"connected": True, "lag_ms": None, "resyncs": 0, "reconnects": 0}}


def exposed() -> set[str]:
    """What a scrape shows, as Prometheus names it (counters end in _total)."""
    worker = CollectorRegistry()
    WorkerMetrics(worker)
    families = [*worker.collect(), *WebMetrics(lambda: STATS).registry.collect()]
    return {f.name + "_total" if f.type == "counter" else f.name for f in families}


def documented() -> set[str]:
    text = (REPO / "docs/operations.md").read_text()
    return set(re.findall(r"^\| `(jobcast_[a-z_]+)`", text, re.M))


def charted() -> set[str]:
    dashboard = json.loads((REPO / "deploy/grafana/jobcast.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [str(v.get("definition", "")) for v in dashboard["templating"]["list"]]
    return {re.sub(r"_(bucket|sum|count)$", "", n) for e in exprs for n in NAME.findall(e)}


def test_every_metric_is_documented_and_every_documented_one_exists() -> None:
    assert exposed() == documented()


def test_the_dashboard_charts_only_metrics_that_exist() -> None:
    assert charted() <= exposed(), charted() - exposed()
    assert len(charted()) >= 12  # it charts most of them, not a token few

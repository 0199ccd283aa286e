"""Prometheus metrics: the web's at ``/metrics`` (web.py), the workers' on a port of their own
(worker.py). The names are listed in docs/operations.md."""

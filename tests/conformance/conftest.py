"""Fixtures of the conformance suite (tests/conformance/harness.py)."""

from harness import (  # noqa: F401 - fixtures, found by pytest by name
    conformance_redis,
    impl,
    node_modules,
    producer,
    queue_name,
    start_worker,
)

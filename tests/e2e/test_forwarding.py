"""Behind nginx, the rate limit keys on the address nginx saw, never on one the client wrote:
a client that forges X-Forwarded-For cannot choose its own rate-limit key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support import require_tool
from support.topology import Topology, post_json, run_local


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    require_tool("nginx", "apt-get install nginx-light")
    env = {"JOBCAST_ENQUEUE_RATE": "3/minute", "JOBCAST_SHUTDOWN_GRACE_S": "2"}
    with run_local(tmp_path_factory.mktemp("forwarding"), env, "--web", "1", "--workers",
                   "0") as topology:
        yield topology


def test_forged_forwarded_headers_do_not_escape_the_rate_limit(limited: Topology) -> None:
    codes = []
    for n in range(6):
        forged = {"x-forwarded-for": f"10.0.0.{n}, 192.168.1.{n}", "x-real-ip": f"10.9.9.{n}"}
        status, _ = post_json(f"{limited.url}/api/bulk", {"items": 1}, headers=forged)
        codes.append(status)
    assert codes[:3] == [202, 202, 202] and set(codes[3:]) == {429}, codes

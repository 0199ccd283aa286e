"""The cluster URL, the hash-tagged keys and the slot routing rules (no server needed; the real
cluster is exercised in tests/e2e/test_cluster.py)."""

from __future__ import annotations

import pytest
from redis.crc import key_slot
from redis.exceptions import ResponseError

from jobcast import Settings, names
from jobcast._bullmq import QueueKeys
from jobcast.redis import FastRedis, parse_redis_url
from jobcast.redis.cluster import (
    ClusterFastRedis,
    _join_split,
    _one_line_per_name,
    _redirect,
    _split_multi_key,
    command_key,
)


def test_a_cluster_url_names_its_seeds_and_keeps_credentials_and_tls() -> None:
    target = parse_redis_url("rediss+cluster://app:s3cret@10.0.0.1:7000,[::1]:7001,"
                             "redis-c:7002?ssl_cert_reqs=none")
    assert target.cluster_nodes == (("10.0.0.1", 7000), ("::1", 7001), ("redis-c", 7002))
    assert (target.username, target.password, target.tls) == ("app", "s3cret", True)
    assert target.tls_options == {"ssl_cert_reqs": "none"}
    assert "s3cret" not in target.where and target.where.startswith("cluster 10.0.0.1:7000")
    node = target.node("10.0.0.9", 7005)
    assert (node.host, node.port, node.cluster, node.password) == ("10.0.0.9", 7005, False,
                                                                   "s3cret")
    assert isinstance(FastRedis(target), ClusterFastRedis)
    assert type(FastRedis(node)) is FastRedis


@pytest.mark.parametrize("url, problem", [
    ("redis+cluster://10.0.0.1:7000/2", "only database 0"),
    ("redis+cluster://10.0.0.1:port", "not a cluster node"),
    ("redis+cluster://", "not a cluster node"),
])
def test_a_bad_cluster_url_says_why(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_redis_url(url)


def test_on_a_cluster_every_key_of_a_queue_is_in_the_queue_tag_slot() -> None:
    settings = Settings(redis_url="redis+cluster://127.0.0.1:7000")
    keys = settings.queue_keys("report")
    assert settings.cluster and keys.wait == "bull:{report}:wait" and keys.name == "{report}"
    slot = key_slot(b"report")
    for key in (keys.wait, keys.events, keys.meta, keys.job("j1"), keys.lock("j1"),
                keys.logs("j1"), names.cancel_key("report", "j1")):
        assert key_slot(key.encode()) == slot, key
    # A single Redis keeps BullMQ's plain layout.
    plain = Settings(redis_url="redis://127.0.0.1:6379/0").queue_keys("report")
    assert plain.wait == "bull:report:wait" and plain.name == "report"
    assert QueueKeys("bull", "report").base == "bull:report:"


def test_commands_are_routed_by_their_first_key() -> None:
    assert command_key(("HGET", "bull:{a}:j1", "data")) == "bull:{a}:j1"
    assert command_key(("EVALSHA", "abc", 2, "bull:{a}:wait", "bull:{a}:active", "x")) == \
        "bull:{a}:wait"
    assert command_key(("EVALSHA", "abc", 0, "x")) is None
    assert command_key(("XREAD", "COUNT", 10, "BLOCK", 5, "STREAMS", "bull:{a}:events", "0")) \
        == "bull:{a}:events"
    for keyless in (("MULTI",), ("EXEC",), ("SCRIPT", "LOAD", "return 1"), ("PING",),
                    ("PUBLISH", "jobcast:cancel", "a:b")):
        assert command_key(keyless) is None


def test_redirections_are_read_from_the_error_replies() -> None:
    assert _redirect(ResponseError("MOVED 3999 127.0.0.1:6381")) == \
        ("MOVED", 3999, ("127.0.0.1", 6381))
    assert _redirect(ResponseError("ASK 3999 10.0.0.2:7002")) == \
        ("ASK", 3999, ("10.0.0.2", 7002))
    assert _redirect(ResponseError("TRYAGAIN Multiple keys request during rehashing"))[0] == \
        "TRYAGAIN"  # type: ignore[index]
    assert _redirect(ResponseError("UNBLOCKED force unblock from blocking operation"))[0] == \
        "MOVED"  # type: ignore[index]
    assert _redirect(ResponseError("ERR wrong number of arguments")) is None
    assert _redirect("OK") is None


def test_multi_key_commands_over_several_slots_are_split_and_joined_back() -> None:
    keys = [f"k{n}" for n in range(4)]
    assert len({key_slot(k.encode()) for k in keys}) > 1
    commands, joins = _split_multi_key([("MGET", *keys), ("EXISTS", *keys), ("GET", "k0"),
                                        ("MGET", "a{t}", "b{t}")])
    assert commands[:4] == [("MGET", k) for k in keys] and commands[-1] == ("MGET", "a{t}",
                                                                           "b{t}")
    replies = [["v0"], [None], ["v2"], ["v3"], 1, 0, 1, 1, "v0", ["a", "b"]]
    assert _join_split(replies, joins) == [["v0", None, "v2", "v3"], 3, "v0", ["a", "b"]]
    failed = ResponseError("MOVED 1 h:1")
    assert _join_split([["v"], failed], [("list", 2)]) == [failed]


def test_a_clusters_client_list_counts_a_named_client_once() -> None:
    a = "id=1 addr=x name=bull:YQ==:w:one db=0\nid=2 addr=y name= db=0\n"
    b = "id=7 addr=x name=bull:YQ==:w:one db=0\nid=8 addr=z name= db=0\n"
    merged = _one_line_per_name([a, b])
    assert merged.count("name=bull:YQ==:w:one") == 1 and merged.count("name= ") == 2

"""POST /api/<job>/batch: every item validated first, then all added in one transaction or
none; ids in order; a refusal names each bad item by its index; the rate limit counts items."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from jobcast import Caller, Settings, create_app, load_jobs
from support import RedisServer

DB = 4


@pytest.fixture
async def http(redis_server: RedisServer) -> AsyncIterator[httpx.AsyncClient]:
    """No worker: what is added waits, and can be counted."""
    settings = Settings(redis_url=redis_server.url.replace("/0", f"/{DB}"),
                        enqueue_rate="25/minute", max_batch=20)

    def owner(client: Caller) -> str | None:
        return client.cookies.get("user")

    app = create_app(load_jobs("sample_jobs:jobs"), settings, owner=owner)
    with redis_server.client(db=DB) as db:
        db.flushdb()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://jobcast.test", timeout=10,
                                 cookies={"user": "ann"}) as client:
        yield client
    await app.stop()


def waiting(redis_server: RedisServer) -> list[str]:
    with redis_server.client(db=DB) as db:
        return list(db.lrange("bull:bulk:wait", 0, -1))


async def test_a_batch_adds_all_in_order_with_their_owner(
        http: httpx.AsyncClient, redis_server: RedisServer) -> None:
    items = [{"items": n} for n in range(1, 6)]
    response = await http.post("/api/bulk/batch", json=items)
    assert response.status_code == 202, response.text
    ids = response.json()["jobIds"]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert sorted(waiting(redis_server)) == sorted(ids)
    for job_id, item in zip(ids, items, strict=True):
        status = (await http.get(f"/api/jobs/{job_id}")).json()
        assert status["state"] == "waiting" and status["job"] == "bulk"
        with redis_server.client(db=DB) as db:
            stored = db.hget(f"bull:bulk:{job_id}", "data")
            assert stored == f'{{"items":{item["items"]},"item_ms":0.0}}'
            assert db.hget(f"bull:bulk:{job_id}", "jcowner") == "ann"


async def test_one_bad_item_refuses_the_batch_and_adds_nothing(
        http: httpx.AsyncClient, redis_server: RedisServer) -> None:
    items = [{"items": 1}, {"items": "two"}, {"items": 3}, {"nope": 1}]
    response = await http.post("/api/bulk/batch", json=items)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid input: nothing was added"
    assert sorted({d["index"] for d in body["details"]}) == [1, 3]
    assert all(d["field"] and d["message"] for d in body["details"])
    assert waiting(redis_server) == []


@pytest.mark.parametrize(("body", "code", "says"), [
    ([], 422, "at least one"),
    ({"items": 1}, 422, "JSON array"),
    ([{"items": 1}] * 21, 422, "at most 20 items"),
    (None, 400, "malformed JSON"),
])
async def test_malformed_batches_get_a_clear_error(http: httpx.AsyncClient, body: object,
                                                   code: int, says: str,
                                                   redis_server: RedisServer) -> None:
    if body is None:
        response = await http.post("/api/bulk/batch", content=b"[{",
                                   headers={"content-type": "application/json"})
    else:
        response = await http.post("/api/bulk/batch", json=body)
    assert response.status_code == code and says in response.json()["error"], response.text
    assert waiting(redis_server) == []


async def test_batches_of_unknown_jobs_keys_and_the_rate(http: httpx.AsyncClient) -> None:
    assert (await http.post("/api/nope/batch", json=[{}])).status_code == 404
    keyed = await http.post("/api/bulk/batch", json=[{"items": 1}],
                            headers={"idempotency-key": "k1"})
    assert keyed.status_code == 400 and "one by one" in keyed.json()["error"]
    # The limit is 25 a minute and counts items, not requests: 20 + 5 pass, 1 more does not.
    assert (await http.post("/api/bulk/batch", json=[{"items": 1}] * 20)).status_code == 202
    assert (await http.post("/api/bulk/batch", json=[{"items": 1}] * 5)).status_code == 202
    limited = await http.post("/api/bulk/batch", json=[{"items": 1}])
    assert limited.status_code == 429 and limited.headers["retry-after"]
    http.cookies.clear()
    anonymous = await http.post("/api/bulk/batch", json=[{"items": 1}])
    assert anonymous.status_code == 401

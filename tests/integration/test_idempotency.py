"""Idempotency-Key: a client that retries POST /api/<job> (a timeout, a dropped connection) never
starts the work twice; the same key with another input is refused; owners' keys never meet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from jobcast import Caller, Settings, create_app, load_jobs
from support import RedisServer


@pytest.fixture
async def http(redis_server: RedisServer) -> AsyncIterator[httpx.AsyncClient]:
    """An app with owners, on database 2 of the session's Redis, and no worker: jobs wait."""
    settings = Settings(redis_url=redis_server.url.replace("/0", "/2"))

    def owner(client: Caller) -> str | None:
        return client.cookies.get("user")

    app = create_app(load_jobs("sample_jobs:jobs"), settings, owner=owner)
    with redis_server.client(db=2) as db:
        db.flushdb()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://jobcast.test", timeout=10) as client:
        yield client
    await app.stop()


def waiting(redis_server: RedisServer) -> list[str]:
    with redis_server.client(db=2) as db:
        return list(db.lrange("bull:bulk:wait", 0, -1))


async def test_racing_retries_start_one_job_and_all_get_its_id(
        http: httpx.AsyncClient, redis_server: RedisServer) -> None:
    headers = {"idempotency-key": "order-7-export", "cookie": "user=alice"}
    answers = await asyncio.gather(*(http.post("/api/bulk", json={"items": 3}, headers=headers)
                                     for _ in range(25)))
    assert {a.status_code for a in answers} == {202}
    ids = {a.json()["jobId"] for a in answers}
    assert len(ids) == 1 and waiting(redis_server) == list(ids)
    (job_id,) = ids
    assert all(a.headers["location"] == f"/api/jobs/{job_id}" for a in answers)
    # Later retries, too, for as long as jobs are kept.
    again = await http.post("/api/bulk", json={"items": 3}, headers=headers)
    assert again.json()["jobId"] == job_id and waiting(redis_server) == [job_id]
    # The job is the owner's, as any other.
    assert (await http.get(f"/api/jobs/{job_id}", headers={"cookie": "user=alice"})).status_code \
        == 200


async def test_the_same_key_with_another_input_is_a_409(
        http: httpx.AsyncClient, redis_server: RedisServer) -> None:
    headers = {"idempotency-key": "k1", "cookie": "user=alice"}
    first = await http.post("/api/bulk", json={"items": 3}, headers=headers)
    other = await http.post("/api/bulk", json={"items": 4}, headers=headers)
    assert first.status_code == 202 and other.status_code == 409
    assert "Idempotency-Key was already used with a different input" in other.json()["error"]
    assert waiting(redis_server) == [first.json()["jobId"]]


async def test_owners_and_jobs_have_their_own_keys(
        http: httpx.AsyncClient, redis_server: RedisServer) -> None:
    alice = await http.post("/api/bulk", json={"items": 1},
                            headers={"idempotency-key": "same", "cookie": "user=alice"})
    bob = await http.post("/api/bulk", json={"items": 1},
                          headers={"idempotency-key": "same", "cookie": "user=bob"})
    assert alice.status_code == bob.status_code == 202
    assert alice.json()["jobId"] != bob.json()["jobId"]
    assert (await http.get(f"/api/jobs/{alice.json()['jobId']}",
                           headers={"cookie": "user=bob"})).status_code == 404
    without = await http.post("/api/bulk", json={"items": 1}, headers={"cookie": "user=alice"})
    assert without.json()["jobId"] not in (alice.json()["jobId"], bob.json()["jobId"])
    assert len(waiting(redis_server)) == 3


async def test_a_malformed_key_is_a_400(http: httpx.AsyncClient) -> None:
    for key in ("", " leading-space", "x" * 256, "tab\there"):
        response = await http.post("/api/bulk", json={"items": 1},
                                   headers={"idempotency-key": key, "cookie": "user=alice"})
        assert response.status_code == 400, (key, response.text)

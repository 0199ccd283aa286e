"""Access: who may do what with a job.

Job ids are 128 random bits (a capability); an application can add owners (tests/owner_app.py:
a job is visible only to the user who started it); enqueues can be rate-limited; Socket.IO
accepts only allowed origins. Each test runs its own web process(es) with the setting it
checks, on a private redis-server.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import Iterator

import httpx
import pytest
import redis as redis_py
import socketio

from jobcast.web.tokens import WatchTokens
from support import RedisServer, Stack, Watcher, Web, jobcast_env, wait_for


@pytest.fixture(scope="module")
def idle_redis() -> Iterator[RedisServer]:
    """No worker ever runs on this one: jobs enqueued here stay waiting."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plain_web(idle_redis: RedisServer) -> Iterator[Web]:
    web = Web(jobcast_env(idle_redis.url)).start()
    yield web
    web.stop()


# -- ids ---------------------------------------------------------------------------------------

async def test_a_thousand_issued_ids_are_distinct_random_base64url(
    plain_web: Web, idle_redis: RedisServer
) -> None:
    async with httpx.AsyncClient(base_url=plain_web.url, timeout=30) as http:
        sem = asyncio.Semaphore(25)

        async def one() -> str:
            async with sem:
                response = await http.post("/api/bulk", json={"items": 1})
                assert response.status_code == 202, response.text
                return str(response.json()["jobId"])

        ids = await asyncio.gather(*(one() for _ in range(1000)))
    assert len(set(ids)) == 1000
    for job_id in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", job_id), job_id
        assert len(base64.urlsafe_b64decode(job_id + "==")) == 16  # 128 bits
    # Random, not a counter or a clock: the first character takes (nearly) all 64 values.
    assert len({job_id[0] for job_id in ids}) >= 60
    assert len({job_id[:4] for job_id in ids}) >= 990
    # They are BullMQ's job ids too (no counter id behind them).
    db = redis_py.Redis.from_url(idle_redis.url, decode_responses=True)
    try:
        assert all(db.exists(f"bull:bulk:{job_id}") for job_id in ids[:50])
        assert set(ids) <= set(db.lrange("bull:bulk:wait", 0, -1))
    finally:
        db.close()


# -- owners ------------------------------------------------------------------------------------

NEW_SECRET, OLD_SECRET = "new-secret-" + "n" * 21, "old-secret-" + "o" * 21

@pytest.fixture(scope="module", params=["app", "async_app"])
def owner_app(request: pytest.FixtureRequest) -> Iterator[Web]:
    """`python -m uvicorn owner_app:<app>`: an application's own module, not `jobcast web`,
    once with a plain owner hook and once with a slow async one."""
    with Stack(JOBCAST_WATCH_SECRET=f"{NEW_SECRET},{OLD_SECRET}") as stack:
        stack.start_worker()
        web = stack.start_web(app=f"owner_app:{request.param}")
        yield web


def UserWatcher(url: str, headers: dict[str, str]) -> Watcher:  # noqa: N802
    """A Socket.IO client that sends a cookie (and any headers) with its handshake."""
    return Watcher(url, headers=headers)


def user(name: str) -> dict[str, str]:
    return {"cookie": f"user={name}"}


async def test_jobs_are_visible_only_to_their_owner(owner_app: Web) -> None:
    a_http = httpx.AsyncClient(base_url=owner_app.url, timeout=10, headers=user("a"))
    b_http = httpx.AsyncClient(base_url=owner_app.url, timeout=10, headers=user("b"))
    anon = httpx.AsyncClient(base_url=owner_app.url, timeout=10)
    a = await UserWatcher(owner_app.url, user("a")).connect()
    b = await UserWatcher(owner_app.url, user("b")).connect()
    try:
        # No user: may not start jobs.
        response = await anon.post("/api/report", json={"title": "anon", "pages": 1})
        assert response.status_code == 401 and response.json()["error"]

        response = await a_http.post("/api/report", json={"title": "mine", "pages": 1})
        assert response.status_code == 202, response.text
        job_id = response.json()["jobId"]
        assert (await a_http.get(f"/api/jobs/{job_id}")).json()["job"] == "report"
        assert (await a.join(job_id))["ok"] is True

        rooms = owner_app.rooms()
        assert await b.join(job_id) == {"ok": False, "error": "unknown job"}
        # With owners, an id no job has yet cannot be watched either: nobody can vouch for it.
        assert await b.join("order-42") == {"ok": False, "error": "unknown job"}
        assert owner_app.rooms() == rooms  # refused without a trace
        for client in (b_http, anon):
            for method, path in (("GET", f"/api/jobs/{job_id}"),
                                 ("GET", f"/api/jobs/{job_id}/result"),
                                 ("GET", f"/api/jobs/{job_id}/events"),
                                 ("GET", f"/api/jobs/{job_id}/output"),
                                 ("GET", f"/api/jobs/{job_id}/logs"),
                                 ("DELETE", f"/api/jobs/{job_id}")):
                response = await client.request(method, path)
                assert response.status_code == 404, (method, path, response.text)
                assert response.json() == {"error": "unknown job"}  # as if it never existed

        # The owner's own event stream (SSE) follows it to its end; its log too.
        names = []
        async with a_http.stream("GET", f"/api/jobs/{job_id}/events") as stream:
            assert stream.status_code == 200
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    names.append(line[7:])
        assert names[0] == "state" and names[-1] == "report:completed", names
        assert "report:log" in names  # "page 1 of 1 laid out"
        logs = (await a_http.get(f"/api/jobs/{job_id}/logs")).json()
        assert [e["text"] for e in logs["entries"]] == ["page 1 of 1 laid out (histogram)"]
        event, data = await a.wait_terminal(job_id, timeout=60)
        assert event == "report:completed", data
        pdf = await a_http.get(f"/api/jobs/{job_id}/result")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert (await b_http.get(f"/api/jobs/{job_id}/result")).status_code == 404
        assert job_id not in b.events  # b never heard of it

        # Cancel: b cannot (over HTTP or the socket), a can.
        response = await a_http.post("/api/bulk", json={"items": 1000, "item_ms": 50})
        long_id = response.json()["jobId"]
        assert (await a.join(long_id))["ok"] is True
        assert (await b_http.delete(f"/api/jobs/{long_id}")).status_code == 404
        assert await b.client.call("cancel", long_id, timeout=10) == {
            "ok": False, "error": "unknown job"}
        assert (await a_http.get(f"/api/jobs/{long_id}")).json()["state"] in ("waiting", "active")
        assert await a.client.call("cancel", long_id, timeout=10) == {
            "ok": True, "state": "cancelled"}
        event, data = await a.wait_terminal(long_id)
        assert (event, data) == ("bulk:failed", {"jobId": long_id, "reason": "cancelled",
                                                 "state": "cancelled"})
        assert (await a_http.get(f"/api/jobs/{long_id}")).json()["state"] == "cancelled"
        assert (await b_http.get(f"/api/jobs/{long_id}")).status_code == 404
    finally:
        await a.close()
        await b.close()
        for client in (a_http, b_http, anon):
            await client.aclose()


async def test_a_watch_token_lets_anyone_watch_that_one_job_read_only(owner_app: Web) -> None:
    async with httpx.AsyncClient(base_url=owner_app.url, timeout=10, headers=user("a")) as a_http, \
            httpx.AsyncClient(base_url=owner_app.url, timeout=10) as anon:
        started = (await a_http.post("/api/report", json={"title": "shared", "pages": 2})).json()
        job_id, token = started["jobId"], started["watchToken"]
        WatchTokens([NEW_SECRET], 60).check(token, job_id)  # signed with the first secret
        other = (await a_http.post("/api/bulk", json={"items": 1})).json()
        # No session, the token: the job's socket events, SSE, status, output, logs, result.
        watcher = await Watcher(owner_app.url).connect()
        try:
            ack = await watcher.client.call("joinRoom", (job_id, {"token": token}), timeout=10)
            assert ack["ok"] is True, ack
            names = []
            async with anon.stream("GET", f"/api/jobs/{job_id}/events",
                                   params={"token": token}) as stream:
                assert stream.status_code == 200
                async for line in stream.aiter_lines():
                    if line.startswith("event: "):
                        names.append(line[7:])
            assert names[0] == "state" and names[-1] == "report:completed", names
            event, _ = await watcher.wait_terminal(job_id, timeout=60)
            assert event == "report:completed"
        finally:
            await watcher.close()
        for path in ("", "/output", "/logs", "/result"):
            response = await anon.get(f"/api/jobs/{job_id}{path}", params={"token": token})
            assert response.status_code == 200, (path, response.text)
        by_header = await anon.get(f"/api/jobs/{job_id}", headers={"x-jobcast-token": token})
        assert by_header.json()["state"] == "completed"
        # Read-only: it cancels nothing; without it the job is unknown, as before.
        assert (await anon.delete(f"/api/jobs/{job_id}", params={"token": token})).status_code \
            == 404
        assert (await anon.get(f"/api/jobs/{job_id}")).status_code == 404
        # Refusals say why: another job's token, forged, expired, malformed, retired secret.
        expired = WatchTokens([NEW_SECRET], 60).issue(job_id, now=time.time() - 120)
        encoded, expires, signature = token.split(".")
        refusals = {
            other["watchToken"]: "the watch token is for another job",
            f"{encoded}.{int(expires) + 86400}.{signature}": "invalid watch token",
            expired: "the watch token expired",
            "not-a-token": "malformed watch token",
            WatchTokens(["retired-" + "r" * 24], 60).issue(job_id): "invalid watch token",
        }
        for bad, reason in refusals.items():
            response = await anon.get(f"/api/jobs/{job_id}", params={"token": bad})
            assert (response.status_code, response.json()) == (403, {"error": reason}), bad
        # A token signed with the previous secret still works after a rotation.
        rotated = WatchTokens([OLD_SECRET], 60).issue(job_id)
        assert (await anon.get(f"/api/jobs/{job_id}", params={"token": rotated})).status_code \
            == 200
        watcher = await Watcher(owner_app.url).connect()
        try:
            ack = await watcher.client.call("joinRoom", (job_id, {"token": expired}), timeout=10)
            assert ack == {"ok": False, "error": "the watch token expired"}
            assert job_id not in watcher.events
        finally:
            await watcher.close()


async def test_a_malformed_cookie_of_another_site_hides_no_other_cookie(owner_app: Web) -> None:
    async with httpx.AsyncClient(base_url=owner_app.url, timeout=10) as http:
        response = await http.post("/api/bulk", json={"items": 1},
                                   headers={"cookie": 'prefs={"a":1}; user=alice'})
        assert response.status_code == 202, response.text


async def test_repeated_joins_of_a_refused_socket_never_leak_events(owner_app: Web) -> None:
    """A socket that repeats joinRoom while its first join is still being checked gets
    nothing of a job that is not its own, even as the job runs and completes meanwhile."""
    async with httpx.AsyncClient(base_url=owner_app.url, timeout=10, headers=user("a")) as a_http:
        mallory = await UserWatcher(owner_app.url, user("mallory")).connect()
        owner = await UserWatcher(owner_app.url, user("a")).connect()
        try:
            ids = [(await a_http.post("/api/bulk", json={"items": 20, "item_ms": 5})).json()["jobId"]
                   for _ in range(10)]
            acks = await asyncio.gather(*(mallory.client.call("joinRoom", job_id, timeout=30)
                                          for job_id in ids for _ in range(15)))
            assert all(ack["ok"] is False for ack in acks), acks
            for job_id in ids:  # the owner sees them end, so they ran while mallory tried
                assert (await owner.join(job_id))["ok"]
                await owner.wait_terminal(job_id, timeout=30)
            assert dict(mallory.events) == {}
        finally:
            await mallory.close()
            await owner.close()


async def test_joins_past_the_rate_are_refused_with_retry(owner_app: Web) -> None:
    watcher = await UserWatcher(owner_app.url, user("a")).connect()
    try:
        acks = await asyncio.gather(*(watcher.client.call("joinRoom", "Z" * 22, timeout=60)
                                      for _ in range(2000)))
        slowed = [a for a in acks if a.get("error") == "too many joins, slow down"]
        assert slowed and all(a["retry"] is True for a in slowed)
        assert len(slowed) >= 200  # 1000 at once, then 500 a second: a flood is cut short
        assert watcher.client.connected
    finally:
        await watcher.close()


# -- rate limit --------------------------------------------------------------------------------

@pytest.fixture
def limited_web(idle_redis: RedisServer) -> Iterator[Web]:
    web = Web(jobcast_env(idle_redis.url, JOBCAST_ENQUEUE_RATE="3/minute")).start()
    yield web
    web.stop()


async def test_enqueues_past_the_rate_are_429_with_retry_after(
    limited_web: Web, idle_redis: RedisServer
) -> None:
    # The limit counts per clock minute: don't straddle one (poll the clock, a few seconds at most).
    await asyncio.to_thread(wait_for, lambda: time.time() % 60 < 55, 10, "not at a minute's end")
    db = redis_py.Redis.from_url(idle_redis.url, decode_responses=True)
    try:
        before = db.llen("bull:spin:wait")
        async with httpx.AsyncClient(base_url=limited_web.url, timeout=10) as http:
            answers = [await http.post("/api/spin", json={"seconds": 0.1}) for _ in range(5)]
            assert [r.status_code for r in answers] == [202, 202, 202, 429, 429]
            refused = answers[3]
            assert refused.json() == {"error": "too many jobs started, slow down"}
            assert 1 <= int(refused.headers["retry-after"]) <= 60
            assert db.llen("bull:spin:wait") == before + 3  # the refused ones enqueued nothing
            # Only starting jobs is limited: reading status still works.
            job_id = answers[0].json()["jobId"]
            assert (await http.get(f"/api/jobs/{job_id}")).status_code == 200
            # Bad requests are answered as such before they count (no 429 for a 404).
            assert (await http.post("/api/nope", json={})).status_code == 404
    finally:
        db.close()


# -- allowed origins ---------------------------------------------------------------------------

async def connects(url: str, origin: str | None) -> bool:
    """A real Socket.IO client (WebSocket) connecting with this Origin header."""
    client = socketio.AsyncClient(reconnection=False)
    headers = {"Origin": origin} if origin else {}
    try:
        await client.connect(url, transports=["websocket"], headers=headers, wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        session = getattr(client.eio, "http", None)  # the refused client leaves it open
        if session is not None and not session.closed:
            await session.close()
        return False
    ok = client.connected
    await client.disconnect()
    return ok


async def polling_handshake(url: str, origin: str | None) -> int:
    """The first request a long-polling browser client sends; 200 opens a session."""
    headers = {"Origin": origin} if origin else {}
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        response = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"},
                                  headers=headers)
    if response.status_code == 200:
        assert '"sid"' in response.text
    else:
        assert "not an accepted origin" in response.text and '"sid"' not in response.text
    return response.status_code


async def open_sockets(url: str) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        return int((await http.get(f"{url}/readyz")).json()["sockets"])


async def test_socketio_accepts_only_allowed_origins(
    plain_web: Web, idle_redis: RedisServer
) -> None:
    sockets = await open_sockets(plain_web.url)
    # Default: same origin only (and clients that send no Origin at all, which are no browser).
    assert await connects(plain_web.url, plain_web.url)
    assert await connects(plain_web.url, None)
    for origin in ("http://evil.example", "http://good.example", "null",
                   plain_web.url.replace("127.0.0.1", "localhost")):
        assert not await connects(plain_web.url, origin), origin
        assert await polling_handshake(plain_web.url, origin) == 400, origin
    assert await polling_handshake(plain_web.url, plain_web.url) == 200
    # Refused handshakes left no socket behind (the accepted ones have disconnected).
    deadline = time.monotonic() + 10
    while await open_sockets(plain_web.url) != sockets:
        assert time.monotonic() < deadline, "sockets left behind"
        await asyncio.sleep(0.05)

    web = Web(jobcast_env(idle_redis.url, JOBCAST_ALLOWED_ORIGINS="http://good.example")).start()
    try:
        assert await connects(web.url, "http://good.example")
        assert await polling_handshake(web.url, "http://good.example") == 200
        for origin in ("http://evil.example", "http://good.example.evil.example",
                       "https://good.example", "http://good.example:8080"):
            assert not await connects(web.url, origin), origin
            assert await polling_handshake(web.url, origin) == 400, origin
        # Its own page still connects: the list adds origins, it never removes the web's own.
        assert await connects(web.url, web.url)
        assert await polling_handshake(web.url, web.url) == 200
        # And the HTTP API answers CORS for the allowed origin only.
        async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
            preflight = {"Access-Control-Request-Method": "POST",
                         "Access-Control-Request-Headers": "content-type"}
            good = await http.options("/api/bulk", headers={"Origin": "http://good.example",
                                                            **preflight})
            assert good.status_code == 200
            assert good.headers["access-control-allow-origin"] == "http://good.example"
            evil = await http.options("/api/bulk", headers={"Origin": "http://evil.example",
                                                            **preflight})
            assert "access-control-allow-origin" not in evil.headers
            posted = await http.post("/api/bulk", json={"items": 1},
                                     headers={"Origin": "http://good.example"})
            assert posted.status_code == 202
            assert posted.headers["access-control-allow-origin"] == "http://good.example"
    finally:
        web.stop()

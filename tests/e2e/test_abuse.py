"""Bad input and floods: a clear 4xx (or an error ack), never a 500, nothing half-enqueued, and
the server keeps serving. Then the bounds: finished jobs, result files and event streams don't
grow for ever.

test_api.py already covers the basic 400/413/415/422/404 answers; this file adds the rest. The
bad-input tests share one redis-server + web with no worker, so every job they manage to
enqueue stays in its wait list, where it can be counted.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sample_jobs import jobs as sample_jobs
from support import Stack, Watcher, wait_for

ROOMS_PER_SOCKET = 5
SAMPLE_JOBS = tuple(sample_jobs.names())


def waiting(stack: Stack) -> int:
    """Jobs waiting in the sample queues (no worker runs here: every enqueued job waits)."""
    return sum(stack.db.llen(f"bull:{job}:wait") for job in SAMPLE_JOBS)


@pytest.fixture(scope="module")
def bare() -> Iterator[Stack]:
    """redis-server + web, no worker: enqueued jobs wait, and can be counted."""
    with Stack(JOBCAST_ROOMS_PER_SOCKET=str(ROOMS_PER_SOCKET)) as stack:
        stack.start_web()
        yield stack


@pytest.fixture
async def http(bare: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=bare.url, timeout=10) as client:
        yield client


@pytest.fixture
async def still_serving(bare: Stack, http: httpx.AsyncClient) -> AsyncIterator[None]:
    """After the test: the web still answers, enqueues, and nothing crashed in its log."""
    yield
    assert (await http.get("/readyz")).status_code == 200
    before = waiting(bare)
    response = await http.post("/api/bulk", json={"items": 1})
    assert response.status_code == 202, response.text
    assert waiting(bare) == before + 1
    log = bare.web.output()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log


def assert_json_error(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.request.url, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]


def raw_http(port: int, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (no client-side path normalisation); (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


# -- HTTP --------------------------------------------------------------------------------------

JSON = {"content-type": "application/json"}


@pytest.mark.usefixtures("still_serving")
async def test_malformed_json_is_400_and_nothing_is_enqueued(
    bare: Stack, http: httpx.AsyncClient
) -> None:
    before = waiting(bare)
    for body in (b"", b"   ", b"\xff\xfe\x00", b'\xef\xbb\xbf{"items": 1}', b"[" * 5000,
                 b'{"items": 1e400}', b'{"items": NaN}', b'{"items": 1,}', b"{'items': 1}",
                 b'{"title": "\\ud800"}', b'{"items": 1} trailing', b"\x00"):
        response = await http.post("/api/bulk", content=body, headers=JSON)
        assert_json_error(response, 400)
        assert response.json()["error"].startswith("malformed JSON"), body
    assert waiting(bare) == before


@pytest.mark.usefixtures("still_serving")
async def test_wrong_types_and_out_of_range_values_are_422_with_details(
    bare: Stack, http: httpx.AsyncClient
) -> None:
    before = waiting(bare)
    cases: list[tuple[str, Any, str]] = [
        ("bulk", {"items": "many"}, "items"),
        ("bulk", {"items": None}, "items"),
        ("bulk", {"items": [1]}, "items"),
        ("bulk", {"items": {"n": 1}}, "items"),
        ("bulk", {"items": 1.5}, "items"),
        ("bulk", {"items": 10**30}, "items"),
        ("bulk", {"items": -(10**30)}, "items"),
        ("bulk", {"items": 1, "item_ms": 60_001}, "item_ms"),
        ("bulk", {"items": 1, "item_ms": "fast"}, "item_ms"),
        ("bulk", {}, "items"),
        ("report", {"title": 5}, "title"),
        ("report", {"title": ["a"]}, "title"),
        ("report", {"title": "x", "pages": -1}, "pages"),
        ("report", {"title": "x", "pages": 10**9}, "pages"),
        ("report", {"pages": 3}, "title"),
        ("spin", {"seconds": "long"}, "seconds"),
        ("spin", {"seconds": 1, "fail": "maybe"}, "fail"),
    ]
    for job, data, field in cases:
        response = await http.post(f"/api/{job}", content=json.dumps(data), headers=JSON)
        assert_json_error(response, 422)
        assert field in {d["field"] for d in response.json()["details"]}, (data, response.text)
    assert waiting(bare) == before


@pytest.mark.usefixtures("still_serving")
async def test_unknown_jobs_and_wrong_methods_are_clear_4xx(
    bare: Stack, http: httpx.AsyncClient
) -> None:
    before = waiting(bare)
    for path in ("/api/nope", "/api/BULK", "/api/%2e%2e", "/api/" + "x" * 5000, "/api/jobs",
                 "/api/bul%00k", "/api/%F0%9F%92%A5"):
        assert_json_error(await http.post(path, json={"items": 1}), 404)
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        assert_json_error(await http.request(method, "/api/bulk", json={"items": 1}), 405)
    assert_json_error(await http.post("/api/bulk/", json={"items": 1}), 404)
    assert_json_error(await http.post("/api/bulk", content=b'{"items": 1}',
                                      headers={"content-type": "text/plain"}), 415)
    assert_json_error(await http.post("/api/bulk", content=b'items=1',
                                      headers={"content-type": "application/x-www-form-urlencoded"}),
                      415)
    assert waiting(bare) == before


@pytest.mark.usefixtures("still_serving")
async def test_bodies_over_the_limit_are_413_even_without_a_content_length(
    bare: Stack, http: httpx.AsyncClient
) -> None:
    before = waiting(bare)
    limit = 1 << 20

    async def chunked(total: int) -> AsyncIterator[bytes]:
        yield b'{"title": "'
        sent = 0
        while sent < total:
            yield b"x" * 65536
            sent += 65536
        yield b'"}'

    # Chunked transfer: no content-length to refuse up front; the reader stops past the limit.
    response = await http.post("/api/report", content=chunked(2 * limit), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_json_error(response, 413)
    # Declared too large: refused from the header alone.
    big = b'{"title": "' + b"x" * limit + b'"}'
    assert_json_error(await http.post("/api/report", content=big, headers=JSON), 413)
    # Just under the limit is read (and then judged on its content: the title is too long).
    near = b'{"title": "' + b"x" * (limit - 20) + b'"}'
    assert len(near) <= limit
    assert_json_error(await http.post("/api/report", content=near, headers=JSON), 422)
    assert waiting(bare) == before


@pytest.mark.usefixtures("still_serving")
async def test_unknown_and_malformed_ids_are_404_on_every_route(http: httpx.AsyncClient) -> None:
    never_issued = "Zm9vYmFyYmF6cXV4cXV1eA"  # well-formed (22 base64url chars), never issued
    for job_id in (never_issued, "A" * 21, "A" * 23, "A" * 21 + "=", "A" * 21 + ".",
                   "A" * 21 + "%00", "%20" * 22, "-" * 22, "x" * 5000):
        for method, path in (("GET", f"/api/jobs/{job_id}"), ("DELETE", f"/api/jobs/{job_id}"),
                             ("GET", f"/api/jobs/{job_id}/result")):
            response = await http.request(method, path)
            assert_json_error(response, 404)


@pytest.mark.usefixtures("still_serving")
async def test_path_tricks_on_result_files_reach_nothing(bare: Stack) -> None:
    results = Path(bare.web.env["JOBCAST_RESULTS_DIR"])
    results.mkdir(parents=True, exist_ok=True)
    secret = "top-secret-" + str(time.time())
    (results.parent / "secret.txt").write_text(secret)
    (results / "secret.txt").write_text(secret)
    # A file named like a job id, for a job that does not exist: not served either.
    (results / "Zm9vYmFyYmF6cXV4cXV1eA.pdf").write_text(secret)
    paths = [
        "/api/jobs/../secret.txt/result",
        "/api/jobs/../../../../etc/passwd/result",
        "/api/jobs/..%2fsecret.txt/result",
        "/api/jobs/..%2F..%2F..%2Fetc%2Fpasswd/result",
        "/api/jobs/%2e%2e/result",
        "/api/jobs/%2e%2e%2fsecret.txt/result",
        "/api/jobs/%252e%252e%252fsecret.txt/result",
        "/api/jobs/%c0%ae%c0%ae%c0%afsecret.txt/result",
        "/api/jobs/..%5csecret.txt/result",
        "/api/jobs/%2fetc%2fpasswd/result",
        "/api/jobs//etc/passwd/result",
        f"/api/jobs/{results / 'secret.txt'}/result",
        "/api/jobs/secret.txt/result",
        "/api/jobs/secret.txt%00/result",
        "/api/jobs/Zm9vYmFyYmF6cXV4cXV1eA%00.pdf/result",
        "/api/jobs/Zm9vYmFyYmF6cXV4cXV1eA/result",
        "/api/jobs/Zm9vYmFyYmF6cXV4cXV1eA.pdf/result",
        "/static/../secret.txt",
        "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ]
    for path in paths:
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        status, body = await asyncio.to_thread(raw_http, bare.web.port, request)
        assert 400 <= status < 500, (path, status, body[:200])
        assert secret.encode() not in body and b"root:" not in body, path
    # A raw NUL byte in the request line is refused by the HTTP parser itself.
    status, body = await asyncio.to_thread(
        raw_http, bare.web.port, b"GET /api/jobs/\x00/result HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400 and secret.encode() not in body


@pytest.mark.usefixtures("still_serving")
def test_fuzz_the_api_from_its_openapi_schema(bare: Stack) -> None:
    """Generated requests, valid and invalid, for every operation: never a 5xx; every 4xx is
    JSON with "error"; every 202 is exactly one more waiting job."""
    schemathesis = pytest.importorskip(
        "schemathesis", reason="the API fuzz test needs the dev dependency schemathesis>=4")
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable

    schema = schemathesis.openapi.from_url(f"{bare.url}/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /api/bulk", "POST /api/report", "GET /api/jobs/{job_id}",
        "DELETE /api/jobs/{job_id}", "GET /api/jobs/{job_id}/result"}
    accepted: set[str] = set()
    before = waiting(bare)
    seen: dict[int, int] = {}
    skipped: list[str] = []

    for op in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            @settings(max_examples=25, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy(generation_mode=mode))
            def call(case: Any) -> None:
                response = case.call(base_url=bare.url, timeout=10)
                where = f"{case.method} {case.formatted_path}: {response.status_code}"
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                assert response.status_code < 500, (where, response.text[:300])
                if response.status_code == 202:
                    # A repeated Idempotency-Key answers the first job's id: one job, not two.
                    body = response.json()
                    accepted.update(body["jobIds"] if "jobIds" in body else [body["jobId"]])
                if 400 <= response.status_code < 500:
                    content_type = response.headers.get("content-type", [""])  # a list here
                    assert content_type[0].startswith("application/json"), (where, content_type)
                    body = response.json()
                    assert isinstance(body, dict) and body.get("error"), (where, body)

            try:
                call()
            except Unsatisfiable:
                # No invalid request exists for it (e.g. a path parameter that is any string).
                assert mode == schemathesis.GenerationMode.NEGATIVE, op.path
                skipped.append(f"{op.method.upper()} {op.path}")
    assert len(skipped) < len(operations), skipped
    assert accepted and any(400 <= s < 500 for s in seen), seen
    assert waiting(bare) == before + len(accepted)  # nothing half-enqueued, nothing lost


# -- Socket.IO ---------------------------------------------------------------------------------

BAD_IDS: list[Any] = [5, 5.5, None, True, {"id": "x"}, ["a"], "", "x" * 100_000, "x" * 257,
                      "../../etc/passwd", "a b", "tab\there", "new\nline", "\x00", "ünï"]
"""Not an id BullMQ would accept from a producer (not a string, empty, too long, a "/", a space,
control or non-ASCII characters)."""

UNKNOWN_IDS = ["not-an-id", "A" * 21 + "!", "Zm9vYmFyYmF6cXV4cXV1eA", "42", "order-42"]
"""Well-formed ids of jobs that do not exist (yet): with no access hooks they can be watched
(a Node producer may add the job a moment later), with an owner hook they are refused."""


@pytest.mark.usefixtures("still_serving")
async def test_bad_joins_are_refused_or_ignored_and_create_no_room(
    bare: Stack, http: httpx.AsyncClient
) -> None:
    watcher = await Watcher(bare.url).connect()
    try:
        rooms = bare.web.rooms()
        for bad in BAD_IDS:
            ack = await watcher.join(bad)  # with an ack: {ok: false, error}
            assert ack["ok"] is False and isinstance(ack["error"], str) and ack["error"], (
                str(bad)[:40], ack)
            await watcher.client.emit("joinRoom", bad)  # no ack asked: ignored
            ack = await watcher.client.call("cancel", bad, timeout=10)
            assert ack["ok"] is False and ack["error"], (str(bad)[:40], ack)
            await watcher.client.emit("leaveRoom", bad)
        for unknown in UNKNOWN_IDS:  # watched before they exist, and left again
            assert await watcher.join(unknown) == {"ok": True, "state": "unknown", "output": 0, "logs": 0}
            await watcher.client.call("leaveRoom", unknown, timeout=10)
        assert bare.web.rooms() == rooms
        await watcher.client.emit("joinRoom", ("a/b", "b", {"c": 1}))  # several arguments
        await watcher.client.emit("no-such-event", {"jobId": "x"})
        assert await watcher.client.call("joinRoom", timeout=10) == {  # no argument at all
            "ok": False, "error": "invalid job id"}
        assert watcher.client.connected
        # The socket still works: a real job joins, and the bad ones left no room behind.
        job_id = (await http.post("/api/bulk", json={"items": 1})).json()["jobId"]
        assert await watcher.join(job_id) == {"ok": True, "state": "waiting", "output": 0, "logs": 0}
        assert bare.web.rooms() == rooms + 1
        await watcher.client.call("leaveRoom", job_id, timeout=10)
        assert bare.web.rooms() == rooms
        assert set(watcher.events) == {job_id}  # nothing was sent for the bad ids
    finally:
        await watcher.close()


@pytest.mark.usefixtures("still_serving")
async def test_rooms_per_socket_are_limited(bare: Stack, http: httpx.AsyncClient) -> None:
    watcher = await Watcher(bare.url).connect()
    other = await Watcher(bare.url).connect()
    try:
        ids = [(await http.post("/api/bulk", json={"items": 1})).json()["jobId"]
               for _ in range(ROOMS_PER_SOCKET + 1)]
        rooms = bare.web.rooms()
        for job_id in ids[:ROOMS_PER_SOCKET]:
            assert await watcher.join(job_id) == {"ok": True, "state": "waiting", "output": 0, "logs": 0}
        # again: no new room
        assert await watcher.join(ids[0]) == {"ok": True, "state": "waiting", "output": 0, "logs": 0}
        refused = await watcher.join(ids[-1])
        assert refused["ok"] is False and "too many rooms" in refused["error"], refused
        assert bare.web.rooms() == rooms + ROOMS_PER_SOCKET
        # The limit is per socket: another one may still join that job...
        assert await other.join(ids[-1]) == {"ok": True, "state": "waiting", "output": 0, "logs": 0}
        # ...and leaving a room frees a place.
        await watcher.client.call("leaveRoom", ids[0], timeout=10)
        assert await watcher.join(ids[-1]) == {"ok": True, "state": "waiting", "output": 0, "logs": 0}
        assert watcher.client.connected
    finally:
        await watcher.close()
        await other.close()
    wait_for(lambda: bare.web.rooms() == rooms, timeout=10, what="rooms freed on disconnect")


# -- Bounds ------------------------------------------------------------------------------------

def idle(stack: Stack, *queues: str) -> bool:
    """Every job enqueued so far has finished (none waiting, delayed or active)."""
    db = stack.db
    return all(db.llen(f"bull:{q}:wait") == 0 and db.llen(f"bull:{q}:active") == 0
               and db.zcard(f"bull:{q}:delayed") == 0
               and db.zcard(f"bull:{q}:prioritized") == 0 for q in queues)


@pytest.fixture(scope="module")
def bounded() -> Iterator[Stack]:
    with Stack(JOBCAST_KEEP_COMPLETED="5", JOBCAST_RESULT_TTL_S="3", JOBCAST_MAX_EVENTS="100") as stack:
        stack.start_worker()
        stack.start_web()
        yield stack


async def enqueue_many(url: str, job: str, data: object, count: int) -> list[str]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        sem = asyncio.Semaphore(20)

        async def one() -> str:
            async with sem:
                response = await http.post(f"/api/{job}", json=data)
                assert response.status_code == 202, response.text
                return str(response.json()["jobId"])

        return await asyncio.gather(*(one() for _ in range(count)))


async def test_only_the_newest_completed_jobs_are_kept(bounded: Stack) -> None:
    ids = await enqueue_many(bounded.url, "bulk", {"items": 1}, 20)
    await asyncio.to_thread(wait_for, lambda: idle(bounded, "bulk"), 60, "20 jobs finished")
    kept = bounded.db.zrange("bull:bulk:completed", 0, -1)
    assert 1 <= len(kept) <= 5, kept
    assert bounded.db.zcard("bull:bulk:failed") == 0
    hashes = [job_id for job_id in ids if bounded.db.exists(f"bull:bulk:{job_id}")]
    assert sorted(hashes) == sorted(kept)  # the others' hashes are gone, not just unlisted
    async with httpx.AsyncClient(base_url=bounded.url, timeout=10) as http:
        for job_id in ids:
            response = await http.get(f"/api/jobs/{job_id}")
            if job_id in kept:
                assert response.json()["state"] == "completed"
            else:
                assert_json_error(response, 404)


async def test_result_files_are_deleted_after_their_retention(bounded: Stack) -> None:
    watcher = await Watcher(bounded.url).connect()
    try:
        async with httpx.AsyncClient(base_url=bounded.url, timeout=10) as http:
            response = await http.post("/api/report", json={"title": "short-lived", "pages": 1})
            job_id = response.json()["jobId"]
            await watcher.join(job_id)
            event, data = await watcher.wait_terminal(job_id, timeout=60)
            assert event == "report:completed", data
            files = list(Path(bounded.web.env["JOBCAST_RESULTS_DIR"]).glob(f"{job_id}.*"))
            assert len(files) == 1 and files[0].suffix == ".pdf"
            first = await http.get(f"/api/jobs/{job_id}/result")
            if first.status_code == 200:  # unless the machine was slower than the 3 s TTL
                assert first.content.startswith(b"%PDF")
            deadline = time.monotonic() + 15
            while (gone := await http.get(f"/api/jobs/{job_id}/result")).status_code == 200:
                assert time.monotonic() < deadline, "the result file outlived its retention"
                await asyncio.sleep(0.2)
            assert_json_error(gone, 404)
            assert "expired" in gone.json()["error"]
            assert not files[0].exists()
            # The job itself is still there; only its file went.
            assert (await http.get(f"/api/jobs/{job_id}")).json()["state"] == "completed"
    finally:
        await watcher.close()


@pytest.mark.usefixtures("still_serving")
async def test_a_result_file_expiring_during_downloads_never_gives_a_500(stack: Stack) -> None:
    """The retention sweep may delete a file between the lookup and the send: each download
    of a completed job's file is then whole (200) or refused (404 expired), never a 500 or a
    cut reply."""
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        job_id = (await http.post("/api/bulk", json={"items": 1})).json()["jobId"]
        for _ in range(200):
            if (await http.get(f"/api/jobs/{job_id}")).json()["state"] == "completed":
                break
            await asyncio.sleep(0.05)
        results = Path(stack.web.env["JOBCAST_RESULTS_DIR"])
        results.mkdir(parents=True, exist_ok=True)
        path, tmp = results / f"{job_id}.pdf", results / f".{job_id}.tmp"
        content = b"%PDF-1.4 " + b"x" * 200_000
        stop = threading.Event()

        def appear_and_expire() -> int:  # written whole (rename), then swept (unlink)
            cycles = 0
            while not stop.is_set():
                tmp.write_bytes(content)
                tmp.rename(path)
                path.unlink()
                cycles += 1
            return cycles

        churn = asyncio.ensure_future(asyncio.to_thread(appear_and_expire))
        answers: dict[int, int] = {}
        try:
            for _ in range(300):
                response = await http.get(f"/api/jobs/{job_id}/result")
                answers[response.status_code] = answers.get(response.status_code, 0) + 1
                if response.status_code == 200:
                    assert response.content == content
                else:
                    assert_json_error(response, 404, 409)
        finally:
            stop.set()
            cycles = await churn
        assert cycles > 10 and answers.get(200) and set(answers) - {200} , answers


async def test_the_event_stream_is_trimmed(bounded: Stack) -> None:
    assert bounded.db.hget("bull:bulk:meta", "opts.maxLenEvents") == "100"
    await enqueue_many(bounded.url, "bulk", {"items": 3}, 150)
    await asyncio.to_thread(wait_for, lambda: idle(bounded, "bulk"), 60, "150 jobs finished")
    # Each job wrote at least added, waiting, active, progress and completed: 750+ events.
    length = bounded.db.xlen("bull:bulk:events")
    assert 100 <= length < 300, length  # BullMQ trims approximately (MAXLEN ~), never below

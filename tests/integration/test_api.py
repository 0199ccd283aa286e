"""The HTTP contract, in-process: 202 on enqueue, clear 4xx on bad input, status as the
polling fallback, cancel as a real state."""

from __future__ import annotations

import json

from jobcast.ids import is_job_id
from support import InProcess, start_job, wait_state


async def test_enqueue_answers_202_with_a_random_id_and_location(inproc: InProcess) -> None:
    response = await inproc.http.post("/api/bulk", json={"items": 3})
    assert response.status_code == 202
    job_id = response.json()["jobId"]
    assert is_job_id(job_id) and len(job_id) == 22  # 128 bits, base64url
    assert response.headers["location"] == f"/api/jobs/{job_id}"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert await start_job(inproc.http, "bulk", {"items": 3}) != job_id


async def test_status_is_the_polling_fallback(inproc: InProcess) -> None:
    job_id = await start_job(inproc.http, "bulk", {"items": 5, "item_ms": 1})
    body = await wait_state(inproc.http, job_id, "completed")
    assert body == body | {"jobId": job_id, "job": "bulk", "state": "completed",
                           "progress": 100, "result": {"items": 5}, "reason": None,
                           "attemptsMade": 1}
    assert body["createdAt"] <= body["finishedAt"]


async def test_invalid_input_is_422_with_field_details(inproc: InProcess) -> None:
    response = await inproc.http.post("/api/report", json={"title": "", "pages": "many"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid input"
    assert {d["field"] for d in body["details"]} == {"title", "pages"}


async def test_wrong_types_and_unknown_fields_are_422_not_coerced(inproc: InProcess) -> None:
    for data in ({"title": "x", "pages": 0}, {"title": "x", "pages": 201},
                 {"title": "x" * 201}, {"items": 0}, {"items": 1_000_001},
                 {"items": 1, "item_ms": -1}, {"items": "3"}, {"items": True},
                 {"items": 3, "surprise": 1}, {"title": "x", "pages": 2.0, "size_mb": True},
                 {"title": 5, "pages": 2}, [], "text", None, 5):
        job = "report" if isinstance(data, dict) and "title" in data else "bulk"
        response = await inproc.http.post(f"/api/{job}", content=json.dumps(data),
                                          headers={"content-type": "application/json"})
        assert response.status_code == 422, (data, response.text)
        assert response.json()["error"]


async def test_malformed_json_is_400_and_non_json_is_415(inproc: InProcess) -> None:
    bad = await inproc.http.post("/api/bulk", content=b'{"items": ',
                                 headers={"content-type": "application/json"})
    assert bad.status_code == 400 and "malformed JSON" in bad.json()["error"]
    form = await inproc.http.post("/api/bulk", data={"items": "3"})
    assert form.status_code == 415


async def test_unknown_job_is_404_json(inproc: InProcess) -> None:
    response = await inproc.http.post("/api/nope", json={})
    assert response.status_code == 404
    assert "unknown job 'nope'" in response.json()["error"]


async def test_body_over_the_limit_is_413(inproc: InProcess) -> None:
    big = b'{"title": "' + b"x" * (1 << 20) + b'"}'
    response = await inproc.http.post("/api/report", content=big,
                                      headers={"content-type": "application/json"})
    assert response.status_code == 413


async def test_unknown_and_malformed_ids_are_404(inproc: InProcess) -> None:
    for job_id in ("5", "A" * 22, "not-an-id", "..%2f..%2fetc", "%2e%2e%2f", "x" * 500):
        for path in (f"/api/jobs/{job_id}", f"/api/jobs/{job_id}/result"):
            response = await inproc.http.get(path)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["error"]
    assert (await inproc.http.delete(f"/api/jobs/{'B' * 22}")).status_code == 404


async def test_socket_endpoint_and_health(inproc: InProcess) -> None:
    assert (await inproc.http.get("/api/socket")).json() == {"ok": True, "path": "/socket.io/"}
    assert (await inproc.http.get("/healthz")).json() == {"ok": True}
    ready = (await inproc.http.get("/readyz")).json()
    assert ready["ok"] is True and "sockets" in ready and "bridge" in ready


async def test_a_handler_raising_jobfailed_cancelled_is_a_failure_not_a_cancel(
        inproc: InProcess) -> None:
    job_id = await start_job(inproc.http, "boom", {"message": "cancelled", "clean": True})
    body = await wait_state(inproc.http, job_id, "failed", "cancelled")
    assert body["state"] == "failed" and body["reason"] == "cancelled"


async def test_a_cancelled_waiting_job_keeps_its_times(inproc: InProcess) -> None:
    # The shared queue "spin" is cpu_bound and not served in-process: the job waits.
    job_id = await start_job(inproc.http, "spin", {"seconds": 0.1})
    cancelled = await inproc.http.delete(f"/api/jobs/{job_id}")
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["state"] == "cancelled" and body["reason"] == "cancelled"
    again = await wait_state(inproc.http, job_id, "cancelled")
    assert again["createdAt"] and again["finishedAt"] and again["createdAt"] <= again["finishedAt"]
    assert inproc.db.llen("bull:spin:wait") == 0


async def test_the_pages_jobcast_serves_are_hardened(inproc: InProcess) -> None:
    client = await inproc.http.get("/jobcast/jobcast.js")
    assert client.status_code == 200
    for header in ("content-security-policy", "x-content-type-options", "x-frame-options"):
        assert header in client.headers
    assert "frame-ancestors 'none'" in client.headers["content-security-policy"]
    assert "script-src 'self'" in client.headers["content-security-policy"]
    assert (await inproc.http.get("/")).status_code == 404  # the demo page is opt-in

"""The HTTP contract: 202 on enqueue, clear 4xx on bad input, status as the polling fallback."""

from __future__ import annotations

import asyncio
import json

import httpx

from conftest import start_job
from jobcast.ids import is_job_id


async def test_enqueue_answers_202_with_a_random_id_and_location(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/bulk", json={"items": 3})
    assert response.status_code == 202
    job_id = response.json()["jobId"]
    assert is_job_id(job_id) and len(job_id) == 22  # 128 bits, base64url
    assert response.headers["location"] == f"/api/jobs/{job_id}"
    other = await start_job(http, "bulk", {"items": 3})
    assert other != job_id


async def test_status_is_the_polling_fallback(http: httpx.AsyncClient) -> None:
    job_id = await start_job(http, "bulk", {"items": 5, "item_ms": 1})
    for _ in range(200):
        body = (await http.get(f"/api/jobs/{job_id}")).json()
        if body["state"] == "completed":
            break
        assert body["state"] in ("waiting", "active")
        await asyncio.sleep(0.05)
    assert body == body | {"jobId": job_id, "job": "bulk", "state": "completed",
                           "progress": 100, "result": {"items": 5}, "reason": None}


async def test_invalid_input_is_422_with_field_details(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/report", json={"title": "", "pages": "many"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid input"
    assert {d["field"] for d in body["details"]} == {"title", "pages"}


async def test_out_of_range_values_are_422(http: httpx.AsyncClient) -> None:
    for data in ({"title": "x", "pages": 0}, {"title": "x", "pages": 201},
                 {"title": "x" * 201}, {"items": 0}, {"items": 1_000_001},
                 {"items": 1, "item_ms": -1}, {"items": "3"}, {"items": True},
                 {"title": 5, "pages": 2}, [], "text", None, 5):
        job = "report" if isinstance(data, dict) and "title" in data else "bulk"
        response = await http.post(f"/api/{job}", content=json.dumps(data),
                                   headers={"content-type": "application/json"})
        assert response.status_code == 422, (data, response.text)
        assert "error" in response.json()


async def test_malformed_json_is_400_and_non_json_is_415(http: httpx.AsyncClient) -> None:
    bad = await http.post("/api/bulk", content=b'{"items": ', headers={"content-type": "application/json"})
    assert bad.status_code == 400 and "malformed JSON" in bad.json()["error"]
    form = await http.post("/api/bulk", data={"items": "3"})
    assert form.status_code == 415


async def test_unknown_job_is_404_json(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/nope", json={})
    assert response.status_code == 404
    assert "unknown job 'nope'" in response.json()["error"]


async def test_body_over_the_limit_is_413(http: httpx.AsyncClient) -> None:
    big = b'{"title": "' + b"x" * (1 << 20) + b'"}'
    response = await http.post("/api/report", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413


async def test_unknown_and_malformed_ids_are_404(http: httpx.AsyncClient) -> None:
    for job_id in ("5", "A" * 22, "not-an-id", "../../etc/passwd", "%2e%2e%2f", "x" * 500):
        for path in (f"/api/jobs/{job_id}", f"/api/jobs/{job_id}/result"):
            response = await http.get(path)
            assert response.status_code == 404, (path, response.text)
            assert "error" in response.json()


async def test_socket_endpoint_and_health(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/socket")).status_code == 200
    assert (await http.get("/healthz")).json() == {"ok": True}
    assert (await http.get("/readyz")).status_code == 200


async def test_report_result_is_a_pdf_with_the_requested_pages(http: httpx.AsyncClient) -> None:
    from io import BytesIO

    from pypdf import PdfReader

    job_id = await start_job(http, "report", {"title": "API test", "pages": 2})
    for _ in range(300):
        body = (await http.get(f"/api/jobs/{job_id}")).json()
        if body["state"] in ("completed", "failed"):
            break
        await asyncio.sleep(0.05)
    assert body["state"] == "completed", body
    assert body["result"]["url"] == f"/api/jobs/{job_id}/result"
    pdf = await http.get(body["result"]["url"])
    assert pdf.headers["content-type"] == "application/pdf"
    assert len(PdfReader(BytesIO(pdf.content)).pages) == 2 == body["result"]["pages"]
    assert body["result"]["bytes"] == len(pdf.content)

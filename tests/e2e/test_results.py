"""Results through a real `jobcast web` and worker: the report's PDF, a big cpu_bound result."""

from __future__ import annotations

from io import BytesIO

import httpx
from pypdf import PdfReader

from support import start_job, wait_state


async def test_report_result_is_a_pdf_with_the_requested_pages(http: httpx.AsyncClient) -> None:
    job_id = await start_job(http, "report", {"title": "API test", "pages": 2})
    body = await wait_state(http, job_id, "completed", "failed")
    assert body["state"] == "completed", body
    assert body["result"]["url"] == f"/api/jobs/{job_id}/result"
    pdf = await http.get(body["result"]["url"])
    assert pdf.headers["content-type"] == "application/pdf"
    assert len(PdfReader(BytesIO(pdf.content)).pages) == 2 == body["result"]["pages"]
    assert body["result"]["bytes"] == len(pdf.content)
    assert pdf.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in pdf.headers["content-security-policy"]


async def test_a_cpu_bound_jobs_big_result_arrives_whole(http: httpx.AsyncClient) -> None:
    # ~900 kB through the child's pipe (64 kB buffer) and into Redis, under the 1 MiB bound.
    job_id = await start_job(http, "cpu_big", {"size": 900_000})
    end = await wait_state(http, job_id, "completed", "failed", timeout=60)
    assert end["state"] == "completed", end
    assert end["result"] == {"blob": "x" * 900_000}

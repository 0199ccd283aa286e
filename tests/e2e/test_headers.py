"""Every page a browser opens is hardened (DESIGN decision 12), through a real `jobcast web`
with the demo page on: the demo page and its files, the browser client, /api/docs, a result
file and a JSON answer carry the CSP (no inline script, never framed), nosniff and frame
protection; the HTML has no inline script, style or handler for the CSP to refuse. (The
dashboard's pages: test_dashboard.py.)"""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx

from support import start_job, wait_state


def assert_hardened(response: httpx.Response, path: str) -> None:
    assert response.status_code == 200, (path, response.status_code)
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp, path
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
    assert response.headers["x-content-type-options"] == "nosniff", path
    assert response.headers["x-frame-options"] == "DENY", path


def assert_no_inline_code(html: str, path: str) -> None:
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all(re.search(r"\ssrc=", tag) for tag in scripts), (path, scripts)
    assert not re.search(r"<style\b", html), path
    assert not re.search(r"\s(style|on[a-z]+)\s*=", html), path


async def test_the_demo_page_docs_and_client_are_hardened(http: httpx.AsyncClient) -> None:
    for path in ("/", "/api/docs"):
        page = await http.get(path)
        assert_hardened(page, path)
        assert "script-src 'self'" in page.headers["content-security-policy"], path
        assert_no_inline_code(page.text, path)
        for asset in re.findall(r'(?:src|href)="([^"#]+\.(?:js|css))"', page.text):
            url = urljoin(path, asset)  # as the browser resolves it
            assert_hardened(await http.get(url), url)
    assert_hardened(await http.get("/jobcast/jobcast.js"), "/jobcast/jobcast.js")
    assert_hardened(await http.get("/api/openapi.json"), "/api/openapi.json")


async def test_a_result_file_is_sandboxed(http: httpx.AsyncClient) -> None:
    job_id = await start_job(http, "report", {"title": "headers", "pages": 1})
    body = await wait_state(http, job_id, "completed", "failed")
    assert body["state"] == "completed", body
    pdf = await http.get(body["result"]["url"])
    assert_hardened(pdf, "result")
    csp = pdf.headers["content-security-policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp  # whatever a job wrote runs nothing
    assert pdf.headers["content-disposition"].startswith("attachment;")

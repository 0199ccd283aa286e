"""/api/docs in Chromium: Swagger UI renders every route from the pinned package's files, with
no request leaving the machine (it must work offline) and nothing refused by the CSP."""

from __future__ import annotations

from urllib.parse import urlparse

from playwright.sync_api import Browser

from support import Stack


def test_the_api_docs_render_offline_under_the_csp(browser: Browser, stack: Stack) -> None:
    page = browser.new_page()
    hosts: set[str] = set()
    problems: list[str] = []
    page.on("request", lambda request: hosts.add(urlparse(request.url).hostname or ""))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(f"{stack.url}/api/docs")
    page.wait_for_selector(".opblock")
    paths = set(page.locator(".opblock-summary-path").all_inner_texts())
    assert {"/api/report", "/api/report/batch", "/api/jobs/{job_id}",
            "/api/jobs/{job_id}/events", "/api/jobs/{job_id}/output"} <= paths, paths
    assert hosts <= {"127.0.0.1", "localhost"}, hosts  # no CDN
    assert problems == [], problems  # no Content-Security-Policy refusals
    page.close()

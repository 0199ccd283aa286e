"""jobcast inside someone else's app: `app.mount("/jobs", create_app(...))` keeps the host's
own paths and serves HTTP, Socket.IO, Location and the browser client under the prefix."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from support import Stack, Watcher, start_job


@pytest.fixture(scope="module")
def host() -> Iterator[Stack]:
    with Stack() as stack:
        stack.start_worker()
        stack.start_web(app="host_app:app", prefix="/jobs")
        yield stack


async def test_the_host_keeps_its_paths_and_jobcast_lives_under_the_prefix(host: Stack) -> None:
    async with httpx.AsyncClient(base_url=host.url, timeout=10) as http:
        assert "The host's own page" in (await http.get("/")).text
        assert (await http.get("/api/hello")).json() == {"hello": "from the host"}
        assert (await http.get("/static/host.js")).status_code == 200
        assert (await http.get("/nope")).json() == {"detail": "Not Found"}  # the host's 404
        assert (await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
                ).status_code == 404
        response = await http.post("/jobs/api/bulk", json={"items": 3})
        assert response.status_code == 202
        job_id = response.json()["jobId"]
        assert response.headers["location"] == f"/jobs/api/jobs/{job_id}"
        assert (await http.get(response.headers["location"])).status_code == 200
        assert (await http.get("/jobs/api/socket")).json()["path"] == "/jobs/socket.io/"
        assert (await http.get("/jobs/jobcast/jobcast.js")).status_code == 200
        assert (await http.get("/jobs/jobcast/vendor/socket.io.min.js")).status_code == 200
        assert (await http.get("/jobs/")).status_code == 404  # no demo page unless asked
        polling = await http.get("/jobs/socket.io/", params={"EIO": "4", "transport": "polling"})
        assert polling.status_code == 200 and '"sid"' in polling.text


async def test_a_socket_client_watches_through_the_prefix(host: Stack) -> None:
    watcher = Watcher(host.url)
    await watcher.client.connect(host.url, transports=["websocket"], socketio_path="/jobs/socket.io",
                                 wait_timeout=10)
    try:
        async with httpx.AsyncClient(base_url=f"{host.url}/jobs", timeout=10) as http:
            job_id = await start_job(http, "bulk", {"items": 5, "item_ms": 10})
        assert (await watcher.join(job_id))["ok"]
        event, data = await watcher.wait_terminal(job_id)
        assert event == "bulk:completed" and data["result"] == {"items": 5}
    finally:
        await watcher.close()


def test_a_host_page_watches_a_job_through_the_prefix_in_chromium(browser: Browser,
                                                                  host: Stack) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(host.url)
    page.click("#go")
    expect(page.locator("#status")).to_have_text("done: 20 items", timeout=20_000)
    assert page.locator("#progress").text_content() == "100"
    assert errors == []
    page.close()

"""The Next.js example (examples/nextjs) as its README runs it: the client package built, the
app installed from its lockfile (jobcast-client as a copy of clients/js, as its tarball would
be), `next build` + `next start` beside `jobcast up`, and driven in Chromium through Next's
rewrites (one origin): click, the bar reaches 100, the PDF has the right page count, a reload
mid-job brings the job's state (and a story's output) back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from jobcast.cli.embedded import free_port
from support import REPO, require_tool, wait_for

EXAMPLE = REPO / "examples" / "nextjs"
ARTIFACTS = REPO / "test-artifacts"


@dataclass
class App:
    url: str
    jobcast: str
    timings: dict[str, float]


def _run(args: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, \
        f"{' '.join(args)} exited {done.returncode}:\n{(done.stdout + done.stderr)[-6000:]}"


def _client_built() -> bool:
    """dist/ is there and newer than every source and config file of the package."""
    client = REPO / "clients" / "js"
    outputs = [client / "dist" / name for name in ("index.mjs", "index.js", "index.d.ts",
                                                   "react.mjs", "react.js", "react.d.ts")]
    if not all(path.is_file() for path in outputs):
        return False
    sources = [*client.joinpath("src").rglob("*.ts"), client / "package.json",
               client / "tsup.config.ts", client / "tsconfig.json"]
    return min(p.stat().st_mtime for p in outputs) > max(p.stat().st_mtime for p in sources)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    npm = require_tool("npm", "Node.js 18+ with npm; .ci/run's machine has it")
    npx = require_tool("npx", "it comes with npm")
    root = tmp_path_factory.mktemp("nextjs")
    timings: dict[str, float] = {}

    # jobcast up: embedded Redis, the web and a worker, the demo jobs (report, story, bulk).
    port = free_port()
    data = root / "jobcast-data"
    up_log = root / "up.log"
    up = subprocess.Popen([sys.executable, "-m", "jobcast", "up", "--port", str(port)],
                          env={**os.environ, "JOBCAST_DATA_DIR": str(data), "REDIS_URL": ""},
                          cwd=root, stdout=up_log.open("wb"), stderr=subprocess.STDOUT,
                          start_new_session=True)
    processes = [up]
    try:
        # The package build the app installs (dist/: ESM, CJS, .d.ts), from this checkout
        # (unless test_client_js.py just built it from these very sources).
        if not _client_built():
            started = time.monotonic()
            _run([npm, "run", "build", "--workspace", "clients/js"], REPO, timeout=180)
            timings["client build"] = time.monotonic() - started
        # The example in a folder of its own (the work tree stays clean): its relative
        # dependency on ../../clients/js points back at this checkout's package.
        (root / "clients").mkdir()
        (root / "clients" / "js").symlink_to(REPO / "clients" / "js")
        app_dir = root / "examples" / "nextjs"
        shutil.copytree(EXAMPLE, app_dir, ignore=shutil.ignore_patterns(
            "node_modules", ".next", "next-env.d.ts", "*.tsbuildinfo"))
        started = time.monotonic()
        _run([npm, "ci", "--no-audit", "--no-fund"], app_dir, timeout=300)
        timings["npm ci"] = time.monotonic() - started
        installed = app_dir / "node_modules" / "jobcast-client"
        assert installed.is_dir() and not installed.is_symlink()  # a copy: this app's React
        jobcast_url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "JOBCAST_URL": jobcast_url, "NEXT_TELEMETRY_DISABLED": "1"}
        started = time.monotonic()
        _run([npx, "next", "build"], app_dir, timeout=300, env=env)
        timings["next build"] = time.monotonic() - started

        wait_for(lambda: "jobcast is up" in up_log.read_text() or up.poll() is not None,
                 timeout=60, what="jobcast up")
        assert up.poll() is None, up_log.read_text()
        next_port = free_port()
        next_log = root / "next.log"
        server = subprocess.Popen([npx, "next", "start", "--port", str(next_port),
                                   "--hostname", "127.0.0.1"], cwd=app_dir, env=env,
                                  stdout=next_log.open("wb"), stderr=subprocess.STDOUT,
                                  start_new_session=True)
        processes.append(server)
        url = f"http://127.0.0.1:{next_port}"

        def answers() -> bool:
            assert server.poll() is None, next_log.read_text()
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(answers, timeout=60, what="next start")
        with httpx.Client(base_url=jobcast_url, timeout=5) as http:
            wait_for(lambda: all(http.get("/readyz").json()["queues"][q]["workers"] > 0
                                 for q in ("report", "story")), timeout=30, what="a worker")
        ARTIFACTS.mkdir(exist_ok=True)  # where the time went, for a slow CI run
        (ARTIFACTS / "nextjs-timings.json").write_text(json.dumps(
            {step: round(seconds, 1) for step, seconds in timings.items()}))
        yield App(url=url, jobcast=jobcast_url, timings=timings)
    finally:
        for process in reversed(processes):
            _stop(process)


def _progress(page: Page) -> float:
    value = page.locator('progress[aria-label="Report progress"]').get_attribute("value")
    return float(value or 0)


def test_report_progress_reload_mid_job_and_the_pdf(browser: Browser, app: App) -> None:
    context = browser.new_context(accept_downloads=True, viewport={"width": 900, "height": 700})
    page = context.new_page()
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.goto(app.url)
    expect(page.locator(".connection")).to_have_attribute("data-status", "connected")
    page.get_by_label("Title").fill("Next.js e2e")
    page.get_by_label("Pages").fill("30")
    page.get_by_role("button", name="Generate report").click()

    card = page.locator("section[aria-labelledby=report-heading] .job")
    expect(card).to_have_attribute("data-state", "active", timeout=15_000)
    job_id = card.get_attribute("data-job-id")
    assert job_id
    # Mid-job (a few pages in, far from the end): reload.
    page.wait_for_function(
        "() => Number(document.querySelector('progress[aria-label=\"Report progress\"]').value) >= 10")
    before = _progress(page)
    assert 10 <= before < 60, before
    expect(card.locator(".message")).to_contain_text(" of 30")
    page.reload()

    # The page reads the job from localStorage, joins it again: the state comes back (active,
    # the bar where it was or further, the handler's message), not a fresh start.
    again = page.locator(f'section[aria-labelledby=report-heading] .job[data-job-id="{job_id}"]')
    expect(again).to_have_attribute("data-state", "active", timeout=15_000)
    back = _progress(page)
    assert before <= back < 100, (before, back)
    expect(again.locator(".message")).to_contain_text(" of 30")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "nextjs-report-mid-job.png"), full_page=True)

    seen = {back}
    while again.get_attribute("data-state") == "active":  # the bar moves on, live
        seen.add(_progress(page))
        page.wait_for_timeout(100)
    expect(again).to_have_attribute("data-state", "completed", timeout=30_000)
    assert _progress(page) == 100
    assert len(seen) >= 3, seen
    values = sorted(seen)
    assert values[0] >= before  # never back below what the page showed before the reload
    expect(again.locator(".percent")).to_have_text("100 %")

    # Through Next's rewrites, on the page's own origin: the WebSocket too, not only polling.
    origin = app.url.replace("http://", "ws://")
    assert any(u.startswith(f"{origin}/socket.io/") and "transport=websocket" in u
               for u in sockets), sockets

    link = again.get_by_role("link", name="Download PDF")
    href = link.get_attribute("href") or ""
    assert href.startswith(f"/api/jobs/{job_id}/result"), href
    with page.expect_download() as download:
        link.click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(PdfReader(BytesIO(pdf)).pages) == 30
    context.close()


def test_story_streams_and_a_reload_mid_story_brings_the_text_back(browser: Browser,
                                                                   app: App) -> None:
    from jobcast.demo.story import words

    expected = "".join(words("a quiet queue", 150))  # what the card asks for
    context = browser.new_context(viewport={"width": 900, "height": 700})
    page = context.new_page()
    page.goto(app.url)
    expect(page.locator(".connection")).to_have_attribute("data-status", "connected")
    page.get_by_role("button", name="Write a story").click()
    card = page.locator("section[aria-labelledby=story-heading] .job")
    output = card.locator(".output")
    page.wait_for_function(
        "() => (document.querySelector('section[aria-labelledby=story-heading] .output')"
        "?.textContent ?? '').split(' ').length > 20")
    shown = output.text_content() or ""
    assert 0 < len(shown) < len(expected) and expected.startswith(shown)
    job_id = card.get_attribute("data-job-id")

    # Start a report too, so the picture has both: one finished, one mid-job.
    page.get_by_label("Pages").fill("3")
    page.get_by_role("button", name="Generate report").click()
    report = page.locator("section[aria-labelledby=report-heading] .job")
    expect(report).to_have_attribute("data-state", "completed", timeout=20_000)

    page.reload()  # mid-story: the stored words come back, the rest streams on, nothing twice
    again = page.locator(f'section[aria-labelledby=story-heading] .job[data-job-id="{job_id}"]')
    expect(again).to_have_attribute("data-state", "active", timeout=15_000)
    text = again.locator(".output").text_content() or ""
    assert expected.startswith(text) and len(text) >= len(shown), (len(shown), len(text))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "nextjs-mid-job.png"), full_page=True)
    expect(again).to_have_attribute("data-state", "completed", timeout=30_000)
    assert again.locator(".output").text_content() == expected
    expect(again.locator(".info")).to_have_text("150 words")
    page.screenshot(path=str(ARTIFACTS / "nextjs-completed.png"), full_page=True)
    context.close()

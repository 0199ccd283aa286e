"""The demo page in headless Chromium (Debian's, driven by Playwright): start, watch, download."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from playwright.sync_api import Browser, expect
from pypdf import PdfReader

from support import Stack

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_generate_report_watch_progress_download_pdf(browser: Browser, stack: Stack) -> None:
    page = browser.new_page()
    page.goto(stack.url)
    expect(page.locator("#connection")).to_have_attribute("data-status", "connected")
    page.fill("#report-title", "Browser test")
    page.fill("#report-pages", "4")
    page.get_by_role("button", name="Generate report").click()

    card = page.locator("#jobs li.job").first
    expect(card).to_have_attribute("data-state", "active", timeout=10_000)
    progress = card.locator("progress")
    seen = set()
    for _ in range(200):  # watch the bar move
        seen.add(progress.get_attribute("value"))
        if card.get_attribute("data-state") == "completed":
            break
        page.wait_for_timeout(50)
    expect(card).to_have_attribute("data-state", "completed", timeout=30_000)
    assert progress.get_attribute("value") == "100"
    assert len(seen) >= 3, seen  # it moved through intermediate values, live

    link = card.get_by_role("link", name="Download PDF")
    job_id = card.get_attribute("data-job-id")
    assert link.get_attribute("href") == f"/api/jobs/{job_id}/result"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-completed.png"), full_page=True)

    with page.expect_download() as download_info:
        link.click()
    pdf = Path(download_info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(PdfReader(BytesIO(pdf)).pages) == 4

    # After a reload the page shows the job it started, in its final state.
    page.reload()
    again = page.locator(f'#jobs li.job[data-job-id="{job_id}"]')
    expect(again).to_have_attribute("data-state", "completed")
    expect(again.get_by_role("link", name="Download PDF")).to_be_visible()
    page.close()


def test_reload_mid_job_rejoins_and_finishes(browser: Browser, stack: Stack) -> None:
    page = browser.new_page()
    page.goto(stack.url)
    page.fill("#bulk-items", "30")
    page.fill("#bulk-item-ms", "60")
    page.get_by_role("button", name="Start bulk job").click()
    card = page.locator("#jobs li.job").first
    expect(card).to_have_attribute("data-state", "active", timeout=10_000)
    job_id = card.get_attribute("data-job-id")
    page.reload()
    again = page.locator(f'#jobs li.job[data-job-id="{job_id}"]')
    expect(again).to_have_attribute("data-state", "completed", timeout=20_000)
    expect(again.locator(".job-result")).to_contain_text("Processed 30 items")
    page.close()


def test_a_story_streams_word_by_word_and_survives_a_reload(browser: Browser,
                                                            stack: Stack) -> None:
    from jobcast.demo.story import words

    expected = "".join(words("browser story", 120))
    page = browser.new_page()
    page.goto(stack.url)
    page.fill("#story-prompt", "browser story")
    page.fill("#story-words", "120")
    page.fill("#story-word-ms", "25")
    page.get_by_role("button", name="Write a story").click()
    card = page.locator("#jobs li.job").first
    output = card.locator(".job-output")
    expect(output).to_be_visible(timeout=10_000)
    expect(card.locator(".job-message")).to_contain_text("word ")  # "word k of 120"
    shown = output.text_content() or ""
    assert 0 < len(shown) < len(expected) and expected.startswith(shown)  # mid-story
    job_id = card.get_attribute("data-job-id")
    page.reload()  # the stored words come back, the rest streams on, nothing twice
    again = page.locator(f'#jobs li.job[data-job-id="{job_id}"]')
    expect(again).to_have_attribute("data-state", "completed", timeout=20_000)
    assert again.locator(".job-output").text_content() == expected
    expect(again.locator(".job-result")).to_contain_text("120 words")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-story.png"), full_page=True)
    # The shipped client watching the finished job twice on one connection: each watch gets
    # the whole output and its end (exactly once per join, not once per connection).
    twice = page.evaluate("""async (jobId) => {
        const client = window.jobcastDemo.client;
        const watchOnce = () => new Promise((resolve, reject) => {
            let text = "";
            setTimeout(() => reject(new Error("no terminal event")), 10000);
            jobcast.watch(client, "story", jobId, {
                onOutput: (chunk) => { text += chunk; },
                onCompleted: (result) => resolve([text, result]),
            });
        });
        return [await watchOnce(), await watchOnce()];
    }""", job_id)
    for text, result in twice:
        assert text == expected and result["words"] == 120
    page.reload()  # a finished story is read back from its stored output
    done = page.locator(f'#jobs li.job[data-job-id="{job_id}"]')
    expect(done.locator(".job-output")).to_have_text(expected)
    page.close()

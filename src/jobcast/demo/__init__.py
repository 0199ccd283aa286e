"""The demo jobs: ``report`` (a real PDF, CPU-bound), ``bulk`` (many small I/O steps) and
``story`` (text streamed word by word)."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from ..context import JobContext
from ..errors import JobCancelled, JobFailed
from ..registry import Jobs

jobs = Jobs()


class ReportIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    pages: int = Field(default=5, ge=1, le=200)


class StoryIn(BaseModel):
    prompt: str = Field(default="", max_length=200)
    words: int = Field(default=300, ge=1, le=100_000)
    word_ms: float = Field(default=30, ge=0, le=10_000)


class BulkIn(BaseModel):
    items: int = Field(ge=1, le=1_000_000)
    item_ms: float = Field(default=0, ge=0, le=60_000)


@jobs.job("report", input=ReportIn, cpu_bound=True, attempts=1, timeout=600)
def build_report(ctx: JobContext, data: ReportIn) -> dict[str, object]:
    """Compute and lay out a multi-page PDF; progress goes up page by page."""
    try:
        from .report_pdf import render_report, section_content
    except ImportError as err:  # the demo extra is not installed
        raise JobFailed(f"the report demo needs fpdf2: pip install 'jobcast[demo]' ({err})",
                        retry=False) from None
    path = ctx.result_path(".pdf")

    def on_page(page: int) -> None:
        ctx.progress(100 * page / data.pages,
                     f"page {page} of {data.pages}: {section_content(page)}")
        ctx.log(f"page {page} of {data.pages} laid out ({section_content(page)})")

    size = render_report(data.title, data.pages, path, on_page=on_page)
    return {"url": f"/api/jobs/{ctx.job_id}/result", "pages": data.pages, "bytes": size}


@jobs.job("bulk", input=BulkIn, attempts=1, timeout=3600)
async def process_items(ctx: JobContext, data: BulkIn) -> dict[str, int]:
    """Process ``items`` items, each ``item_ms`` of simulated I/O."""
    for done in range(1, data.items + 1):
        if data.item_ms:
            await asyncio.sleep(data.item_ms / 1000)
        elif done % 500 == 0:
            await asyncio.sleep(0)  # with no I/O to wait for, still let the worker breathe
        if ctx.cancelled:
            raise JobCancelled()
        ctx.progress(100 * done / data.items)
    return {"items": data.items}


@jobs.job("story", input=StoryIn, attempts=1, timeout=3600)
async def tell_story(ctx: JobContext, data: StoryIn) -> dict[str, int]:
    """Write a story word by word, ``word_ms`` apart: the page shows it as it is written."""
    from .story import words

    chars = 0
    for done, word in enumerate(words(data.prompt, data.words), start=1):
        if data.word_ms:
            await asyncio.sleep(data.word_ms / 1000)
        elif done % 500 == 0:
            await asyncio.sleep(0)
        if ctx.cancelled:
            raise JobCancelled()
        ctx.write(word)
        chars += len(word)
        ctx.progress(100 * done / data.words, f"word {done} of {data.words}")
    return {"words": data.words, "chars": chars}

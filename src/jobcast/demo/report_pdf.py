"""PDF renderer behind the demo job "report".

Each page runs a seeded random-walk simulation (pure Python, CPU-bound on purpose, so the demo's
progress bar moves visibly) and lays out its statistics as text plus a table or a chart drawn
with fpdf2 primitives. Output is deterministic for a given (title, pages): the same input
always yields the same numbers, which keeps the demo and its tests reproducible.
"""

from __future__ import annotations

import math
import os
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

__all__ = ["MAX_PAGES", "WORK_PER_PAGE", "render_report", "section_content"]

MAX_PAGES = 200
# Random-walk steps simulated per page. Calibrated on the dev machine (~54 ns per step plus
# ~15 ms of layout) to ~150 ms of CPU per page: a 20-page report takes ~3 s, progress visibly moves.
WORK_PER_PAGE = 2_500_000
_STEPS = 1_000  # length of one walk; WORK_PER_PAGE // _STEPS walks per page
_CHECKPOINTS = 10  # walk positions recorded every _STEPS // _CHECKPOINTS steps
_BINS = 12  # histogram bins for the final positions
# Core PDF fonts can only encode a single-byte charset; cp1252 is the widest fpdf2 supports and
# has the typographic dash and quotes. Anything else in user text becomes "?".
_ENCODING = "windows-1252"
_MAX_TITLE = 80
_INK = (33, 37, 41)
_ACCENT = (13, 110, 253)
_MUTED = (134, 142, 150)


@dataclass(frozen=True)
class _PageStats:
    drift: float  # probability of an up-step
    walks: int
    checkpoints: list[tuple[int, float, float, float, int, int]]  # t, mean, mean|x|, rms, min, max
    histogram: list[int]
    bin_edges: list[float]
    share_positive: float


def _clean(text: str, limit: int = _MAX_TITLE) -> str:
    """Make user text safe for a core font: no control chars, cp1252 only, bounded length."""
    text = unicodedata.normalize("NFC", text)  # so "e" + combining accent stays one encodable char
    text = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)
    text = " ".join(text.split()) or "Untitled"
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text.encode(_ENCODING, "replace").decode(_ENCODING)


def _simulate(title: str, page: int) -> _PageStats:
    """Run the page's Monte-Carlo random walks; this is the deliberate CPU cost of a page."""
    # A str seed is hashed with SHA-512 by `random`, unaffected by PYTHONHASHSEED: reproducible.
    rng = random.Random(f"{title}\x00{page}")
    # A slight per-page bias makes pages differ visibly while staying near the diffusive regime.
    drift = 0.5 + rng.uniform(-0.004, 0.004)
    walks = max(1, WORK_PER_PAGE // _STEPS)
    segment = _STEPS // _CHECKPOINTS
    at: list[list[int]] = [[] for _ in range(_CHECKPOINTS)]
    rand = rng.random  # local alias: this loop is the hot path
    for _ in range(walks):
        x = 0
        for k in range(_CHECKPOINTS):
            for _ in range(segment):
                x += 1 if rand() < drift else -1
            at[k].append(x)
    checkpoints = []
    for k, xs in enumerate(at, start=1):
        mean, mean_abs = sum(xs) / walks, sum(map(abs, xs)) / walks
        rms = math.sqrt(sum(v * v for v in xs) / walks)
        checkpoints.append((k * segment, mean, mean_abs, rms, min(xs), max(xs)))
    finals = at[-1]
    # Fixed +-3 sigma range around the origin so the charts of different pages are comparable.
    span = 3 * math.sqrt(_STEPS)
    edges = [-span + 2 * span * i / _BINS for i in range(_BINS + 1)]
    histogram = [0] * _BINS
    for v in finals:
        histogram[min(_BINS - 1, max(0, int((v + span) / (2 * span) * _BINS)))] += 1
    positive = sum(1 for v in finals if v > 0) / len(finals)
    return _PageStats(drift, walks, checkpoints, histogram, edges, positive)


def _paragraphs(title: str, page: int, stats: _PageStats) -> list[str]:
    """Generated prose: deterministic per (title, page), quoting the page's own numbers."""
    rng = random.Random(f"prose\x00{title}\x00{page}")
    opener = rng.choice(["This section", f"Section {page}", "The run behind this page"])
    verb = rng.choice(["simulates", "follows", "tracks"])
    last = stats.checkpoints[-1]
    tone = rng.choice(["As expected,", "Consistent with theory,", "Reassuringly,"])
    return [
        (
            f"{opener} {verb} {stats.walks:,} independent random walks of {_STEPS:,} steps each for "
            f'"{title}". Every step moves up with probability {stats.drift:.4f} and down otherwise, '
            f"so the walks drift by {2 * stats.drift - 1:+.4f} per step on average."
        ),
        (
            f"{tone} the root-mean-square distance after {last[0]:,} steps is {last[3]:.1f}, close "
            f"to the diffusive scale sqrt(n) = {math.sqrt(last[0]):.1f}; the mean final position is "
            f"{last[1]:+.2f} and {stats.share_positive:.1%} of the walks end above zero. The extreme "
            f"walks reached {last[5]:+d} and {last[4]:+d}."
        ),
    ]


def _draw_table(pdf: FPDF, stats: _PageStats) -> None:
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, "Position statistics by step", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    head = ("Step", "Mean", "Mean |x|", "RMS", "sqrt(n)", "Min", "Max")
    # Explicit colours: fpdf2 tables otherwise inherit whatever fill colour a chart left set.
    pdf.set_fill_color(255, 255, 255)
    heading = FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=_ACCENT)
    with pdf.table(
        text_align="RIGHT",
        cell_fill_color=(241, 243, 245),
        cell_fill_mode="ROWS",
        headings_style=heading,
        line_height=7,
    ) as table:
        table.row(head)
        for t, mean, mean_abs, rms, lo, hi in stats.checkpoints:
            stats_cells = (f"{mean:+.2f}", f"{mean_abs:.2f}", f"{rms:.2f}", f"{math.sqrt(t):.2f}")
            table.row((f"{t:,}", *stats_cells, f"{lo:+d}", f"{hi:+d}"))


def _nice_top(value: float) -> float:
    """Smallest round number (m x 10^k, times 4 ticks) >= value: readable ticks."""
    step = max(value, 1e-9) / 4
    scale = 10 ** math.floor(math.log10(step))
    return 4 * scale * next(m for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * scale >= step)


def _axes(pdf: FPDF, x0: float, y0: float, w: float, h: float, top: float, label: str) -> None:
    """Frame, y grid with tick labels (0..top, `top` from _nice_top) and the y-axis caption."""
    pdf.set_font("Helvetica", "", 8)
    for i in range(5):
        y = y0 - h * i / 4
        pdf.set_draw_color(222, 226, 230)
        pdf.line(x0, y, x0 + w, y)
        pdf.set_text_color(*_MUTED)
        pdf.text(x0 - 11, y + 1, f"{top * i / 4:g}")
    pdf.set_draw_color(*_INK)
    pdf.line(x0, y0, x0 + w, y0)
    pdf.line(x0, y0, x0, y0 - h)
    pdf.text(x0 - 11, y0 - h - 4, label)


def _draw_chart(pdf: FPDF, stats: _PageStats, bars: bool) -> None:
    pdf.set_font("Helvetica", "B", 12)
    caption = "Distribution of final positions" if bars else "RMS distance vs. sqrt(n)"
    pdf.cell(0, 8, caption, new_x="LMARGIN", new_y="NEXT")
    x0, w, h = pdf.l_margin + 14, pdf.epw - 18, 100.0
    y0 = pdf.get_y() + 8 + h  # chart's bottom-left corner; axes point up from here
    pdf.set_line_width(0.3)
    if bars:
        top = _nice_top(max(stats.histogram))
        _axes(pdf, x0, y0, w, h, top, "walks")
        slot = w / _BINS
        pdf.set_fill_color(*_ACCENT)
        for i, count in enumerate(stats.histogram):
            bar_h = h * count / top
            pdf.rect(x0 + i * slot + 1, y0 - bar_h, slot - 2, bar_h, style="F")
        for i in range(0, _BINS + 1, 2):
            pdf.text(x0 + i * slot - 3, y0 + 5, f"{stats.bin_edges[i]:+.0f}")
        pdf.text(x0 + w / 2 - 12, y0 + 11, "final position")
    else:
        points = [(0, 0.0)] + [(c[0], c[3]) for c in stats.checkpoints]
        top = _nice_top(max(max(p[1] for p in points), math.sqrt(_STEPS)) * 1.1)
        _axes(pdf, x0, y0, w, h, top, "distance")

        def to_xy(t: float, v: float) -> tuple[float, float]:
            return x0 + w * t / _STEPS, y0 - h * v / top

        theory = [to_xy(t, math.sqrt(t)) for t in range(0, _STEPS + 1, 10)]
        pdf.set_draw_color(*_MUTED)
        pdf.polyline(theory)
        pdf.set_draw_color(*_ACCENT)
        pdf.set_line_width(0.7)
        pdf.polyline([to_xy(t, v) for t, v in points])
        pdf.set_fill_color(*_ACCENT)
        for t, v in points[1:]:
            px, py = to_xy(t, v)
            pdf.rect(px - 1, py - 1, 2, 2, style="F")  # a marker at each measured checkpoint
        for t, _ in points[::2]:
            pdf.text(x0 + w * t / _STEPS - 3, y0 + 5, f"{t:,}")
        pdf.text(x0 + w / 2 - 6, y0 + 11, "step n")
        pdf.set_text_color(*_ACCENT)
        pdf.text(x0 + 4, y0 - h + 4, "simulated RMS")
        pdf.set_text_color(*_MUTED)
        pdf.text(x0 + 4, y0 - h + 9, "theory: sqrt(n)")
    pdf.set_text_color(*_INK)
    pdf.set_draw_color(*_INK)
    pdf.set_line_width(0.2)


class _ReportPDF(FPDF):
    def __init__(self, title: str, total: int) -> None:
        super().__init__(format="A4")
        self.report_title, self.total = title, total

    def _fit(self, text: str, width: float) -> str:
        """Shorten text to fit `width` in the current font, so it cannot overrun the page number."""
        if self.get_string_width(text) <= width:
            return text
        while text and self.get_string_width(text + "...") > width:
            text = text[:-1]
        return text + "..."

    def footer(self) -> None:  # called by fpdf2 when each page is closed
        self.set_y(-15)
        self.set_font("Helvetica", "", 8)
        self.set_text_color(*_MUTED)
        self.cell(self.epw / 2, 10, self._fit(self.report_title, self.epw / 2 - 4), align="L")
        self.cell(self.epw / 2, 10, f"Page {self.page_no()} / {self.total}", align="R")


def section_content(n: int) -> str:
    """What page n shows besides its text (for the job's progress messages)."""
    if n % 2 == 0:
        return "statistics table"
    return "histogram" if (n // 2) % 2 == 0 else "RMS chart"


def render_report(
    title: str, pages: int, path: Path, on_page: Callable[[int], None] | None = None
) -> int:
    """Write a real multi-page PDF report to `path` and return its size in bytes.
    Calls on_page(n) after page n (1-based) is finished, so the caller can report progress."""
    if isinstance(pages, bool) or not isinstance(pages, int) or not 1 <= pages <= MAX_PAGES:
        raise ValueError(f"pages must be an integer in 1..{MAX_PAGES}, got {pages!r}")
    safe = _clean(title)
    pdf = _ReportPDF(safe, pages)
    pdf.core_fonts_encoding = _ENCODING
    # We know N up front, and a title containing "{nb}" must stay literal: no alias (None is
    # documented to disable it, the stub just says str).
    pdf.alias_nb_pages(None)  # type: ignore[arg-type]
    pdf.set_auto_page_break(False)  # the layout is fixed: exactly one page per section
    pdf.set_title(safe)
    pdf.set_creator("jobcast demo")
    pdf.set_margins(15, 15, 15)
    for n in range(1, pages + 1):
        stats = _simulate(title, n)  # seeded with the raw title: distinct titles, distinct data
        pdf.add_page()
        pdf.set_text_color(*_INK)
        pdf.set_font("Helvetica", "B", 16)
        heading = f"{safe} \u2014 section {n} of {pages}"
        pdf.multi_cell(0, 8, heading, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        pdf.set_font("Helvetica", "", 11)
        for text in _paragraphs(safe, n, stats):
            pdf.multi_cell(0, 5.5, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        pdf.ln(4)
        if section_content(n) == "statistics table":
            _draw_table(pdf, stats)
        else:
            _draw_chart(pdf, stats, bars=section_content(n) == "histogram")
        if on_page is not None:
            on_page(n)
    # Write next to the target and rename, so a reader never sees a half-written PDF.
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pdf.output(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.stat().st_size

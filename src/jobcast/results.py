"""Result files: where jobs write them, how the web finds them, when they are deleted.

A job writes ``<results dir>/<job id><suffix>`` (see JobContext.result_path). Only a valid job
id is ever turned into a path, so no request can reach outside the folder.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from .ids import is_file_safe

log = logging.getLogger("jobcast.results")


def find_result(folder: Path, job_id: str) -> Path | None:
    """The job's result file, if it wrote one and it has not expired."""
    if not is_file_safe(job_id) or not folder.is_dir():
        return None
    for path in sorted(folder.glob(f"{job_id}.*")):
        if path.parent == folder and path.is_file() and not path.name.startswith("."):
            return path
    return None


def sweep(folder: Path, ttl_s: float, now: float | None = None) -> int:
    """Delete result files older than ``ttl_s``; returns how many went."""
    if not folder.is_dir():
        return 0
    cutoff = (now or time.time()) - ttl_s
    removed = 0
    for path in folder.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another worker swept it first
            continue
    return removed


async def sweep_forever(folder: Path, ttl_s: float) -> None:
    """Run by every worker process; several sweeping the same folder is harmless."""
    interval = max(1.0, min(ttl_s / 2, 300.0))
    while True:
        removed = await asyncio.to_thread(sweep, folder, ttl_s)
        if removed:
            log.info("deleted %d expired result file(s)", removed)
        await asyncio.sleep(interval)

"""Result files: where jobs write them, how the web finds them, when they are deleted.

A job writes ``<results dir>/<job id><suffix>`` (see JobContext.result_path). Only a valid job
id is ever turned into a path, so no request can reach outside the folder.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
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


def orphans(folder: Path, known: set[str]) -> int:
    """Delete the result files of jobs not in ``known`` (their job was removed from Redis, by
    its retention or by hand): a file lives no longer than its job."""
    removed = 0
    for path in _files(folder):
        if path.name.split(".", 1)[0] not in known:
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                continue
    return removed


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]


def job_ids(folder: Path) -> list[str]:
    return [p.name.split(".", 1)[0] for p in _files(folder)]


async def sweep_forever(folder: Path, ttl_s: float,
                        existing: Callable[[list[str]], Awaitable[set[str]]] | None = None) -> None:
    """Run by every worker process; several sweeping the same folder is harmless. With
    ``existing`` (which of these job ids still exist), files of removed jobs go too."""
    interval = max(1.0, min(ttl_s / 2, 60.0))
    while True:
        removed = await asyncio.to_thread(sweep, folder, ttl_s)
        if existing is not None:
            try:
                ids = await asyncio.to_thread(job_ids, folder)
                if ids:
                    known = await existing(ids)
                    removed += await asyncio.to_thread(orphans, folder, known)
            except Exception as err:  # noqa: BLE001 - Redis away: the next round tries again
                log.warning("could not check which result files' jobs still exist: %s", err)
        if removed:
            log.info("deleted %d result file(s) (expired, or their job is gone)", removed)
        await asyncio.sleep(interval)

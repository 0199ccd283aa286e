"""``jobcast enqueue <job> '<json>' [--watch]`` and ``jobcast watch <id>``: start a job and follow
it in the terminal — a live progress bar with its message, the output streaming below it, the
result at the end — and exit with what became of it (0 completed, 1 failed, 2 cancelled).

Following uses the web's own bridge pieces in this process (an event-stream reader, the relay
and the ledger, with one watcher), so the terminal gets what a socket gets: the stored output
first, each entry once, in order, then the end.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from ..settings import Settings
from .ops import (
    EXIT_CANCELLED,
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_UNKNOWN,
    Stop,
    emit_json,
    opened,
    ops_options,
    ops_settings,
    run,
)

TERMINAL = ("completed", "failed")


async def follow(admin: Any, settings: Settings, job_id: str, as_json: bool) -> int:
    """Watch one job to its end; its exit code."""
    from ..bridge import EventStreamReader
    from ..web.access import AccessPolicy, Caller
    from ..web.watchers import Watchers, seen

    queue = admin.queue
    watchers = Watchers(queue, settings, AccessPolicy())
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    sid = watchers.open_stream(Caller({}, {}, "cli"), inbox.put_nowait)
    relay = watchers.relay
    reader = EventStreamReader(queue.fast.target, settings.prefix, list(queue.keys),
                               relay.on_events, on_gap=relay.resync)
    reading = asyncio.ensure_future(reader.run())
    view = _View(as_json)
    try:
        await reader.connected.wait()  # reading before the join: nothing falls in between
        ack = await watchers.join(sid, Caller({}, {}, "cli"), job_id, seen(-1, -1))
        if not ack.get("ok"):
            raise Stop(f"{job_id}: {ack.get('error')}", EXIT_UNKNOWN)
        if ack["state"] == "unknown":
            raise Stop(f"unknown job {job_id!r}", EXIT_UNKNOWN)
        if ack["state"] == "cancelled":  # a cancelled waiting job has no terminal event
            view.end("failed", {"state": "cancelled", "reason": "cancelled"})
            return EXIT_CANCELLED
        view.start(job_id, ack)
        while True:
            delivery = await inbox.get()
            kind = delivery.event.rpartition(":")[2]
            view.show(kind, delivery.payload)
            if kind in TERMINAL:
                payload = delivery.payload
                if kind == "completed":
                    return 0
                return EXIT_CANCELLED if payload.get("state") == "cancelled" else EXIT_FAILED
    finally:
        view.close()
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        watchers.close_stream(sid)


class _View:
    """The terminal: a rich live bar (or JSON lines, one per event, for scripts)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.progress: Any = None
        self.task: Any = None
        self.console: Any = None
        self.open_line = False
        """Output was printed that did not end its line."""

    def start(self, job_id: str, ack: dict[str, Any]) -> None:
        if self.as_json:
            emit_json({"event": "state", "jobId": job_id, **ack})
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                 TextColumn("{task.percentage:>5.1f} %"),
                                 TextColumn("{task.fields[message]}"), TimeElapsedColumn(),
                                 console=self.console, transient=False)
        self.progress.start()
        self.task = self.progress.add_task(f"{job_id[:8]} {ack['state']}", total=100,
                                           message="")

    def show(self, kind: str, payload: dict[str, Any]) -> None:
        if self.as_json:
            emit_json({"event": kind, **payload})
            return
        if kind == "progress":
            left = payload.get("eta")
            message = payload.get("message") or ""
            if isinstance(left, (int, float)) and left > 0:
                message = f"{message}  ~{left:.0f} s left".strip()
            self.progress.update(self.task, completed=payload["progress"], message=message,
                                 description=f"{payload['jobId'][:8]} running")
        elif kind == "output":
            self.progress.console.out(payload["text"], end="", highlight=False)
            self.open_line = not payload["text"].endswith("\n")
        elif kind == "log":
            self.progress.console.print(f"[dim]log:[/] {payload['line']}", highlight=False)
        elif kind == "retrying":
            self.progress.reset(self.task, total=100, message=f"retrying: {payload['reason']}")
        elif kind in TERMINAL:
            self.end(kind, payload)

    def end(self, kind: str, payload: dict[str, Any]) -> None:
        if self.as_json:
            if self.progress is None and kind not in TERMINAL:
                emit_json({"event": kind, **payload})
            return
        if self.open_line:
            self.progress.console.out("")
        if self.progress is not None:
            done = kind == "completed"
            self.progress.update(self.task, completed=100 if done else None,
                                 description=payload.get("state", kind), message="")
            self.progress.stop()
            self.progress = None
        out = sys.stdout
        if kind == "completed":
            out.write(json.dumps(payload.get("result"), indent=2) + "\n")
        else:
            click.echo(f"{payload.get('state', 'failed')}: {payload.get('reason')}", err=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@click.command(epilog=EXIT_CODES)
@ops_options
@click.argument("job")
@click.argument("data", required=False)
@click.option("--from", "from_file", type=click.Path(dir_okay=False, allow_dash=True),
              help="A JSON Lines file (or - for stdin): one input per line, added as one "
                   "batch (all or none).")
@click.option("--watch", is_flag=True, help="Follow it to its end (exit code: its end).")
def enqueue(jobs: str | None, app_dir: str, as_json: bool, job: str, data: str | None,
            from_file: str | None, watch: bool) -> None:
    """Start a job with DATA (JSON; default {}), or many from --from."""
    settings = ops_settings(jobs, app_dir)
    items = _items(data, from_file)

    async def work() -> int:
        async with opened(settings) as admin:
            queue = admin.queue
            if items is None:
                job_id = await queue.enqueue(job, data or "{}")
                ids = [job_id]
            else:
                ids = await queue.enqueue_many(job, items)
            if as_json and not watch:
                emit_json({"jobIds": ids} if items is not None else {"jobId": ids[0]})
            elif not watch:
                click.echo("\n".join(ids))
            if not watch:
                return 0
            codes = [await follow(admin, settings, job_id, as_json) for job_id in ids]
            return max(codes)

    sys.exit(run(work))


def _items(data: str | None, from_file: str | None) -> list[Any] | None:
    if from_file is None:
        return None
    if data is not None:
        raise click.UsageError("give DATA or --from, not both")
    text = sys.stdin.read() if from_file == "-" else Path(from_file).read_text()
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise click.BadParameter(f"line {number}: {err}", param_hint="--from") from None
    if not items:
        raise click.BadParameter("no inputs in it", param_hint="--from")
    return items


@click.command(epilog=EXIT_CODES)
@ops_options
@click.argument("job_id")
def watch(jobs: str | None, app_dir: str, as_json: bool, job_id: str) -> None:
    """Follow a job to its end: progress, output, result (exit code: its end)."""
    settings = ops_settings(jobs, app_dir)

    async def work() -> int:
        async with opened(settings) as admin:
            return await follow(admin, settings, job_id, as_json)

    sys.exit(run(work))


COMMANDS = [enqueue, watch]

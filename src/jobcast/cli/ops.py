"""The operator's commands: ``jobcast queues | jobs | show | retry | cancel | clean | pause |
resume``, straight on Redis through ``jobcast.admin`` (no web process needed).

Exit codes (for scripts): 0 done, 1 the job failed, 2 it was cancelled (or a usage error, as
for any command), 3 unknown job, id or queue, 4 Redis unreachable, 5 invalid input. With no
REDIS_URL they use the Redis of the ``jobcast up`` running in the same data dir.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from ..errors import InvalidInput, QueueUnavailable, UnknownJob
from ..settings import Settings

EXIT_FAILED, EXIT_CANCELLED, EXIT_UNKNOWN, EXIT_UNREACHABLE, EXIT_INVALID = 1, 2, 3, 4, 5
EXIT_CODES = """Exit codes: 0 done (a watched job completed), 1 it failed, 2 it was cancelled
(or a usage error), 3 unknown job, id or queue, 4 Redis unreachable, 5 invalid input."""
UP_STATE = "up.json"
"""What ``jobcast up`` leaves in its data dir while it runs: its Redis, for these commands."""

T = TypeVar("T")


class Stop(Exception):
    """End the command with this message and exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


# -- where Redis is ------------------------------------------------------------------------------

def write_up_state(settings: Settings, url: str) -> Path:
    path = settings.data_dir / UP_STATE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": os.getpid(), "redis_url": settings.redis_url,
                                "url": url}))
    return path


def _up_redis(settings: Settings) -> str | None:
    """The Redis of a ``jobcast up`` that is running in this data dir, if any."""
    try:
        state = json.loads((settings.data_dir / UP_STATE).read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    url = state.get("redis_url")
    return url if isinstance(url, str) else None


def ops_settings(jobs: str | None, app_dir: str) -> Settings:
    settings = Settings.load({"jobs": jobs}, {"jobs": "--jobs"})
    if not settings.redis_url:
        url = _up_redis(settings)
        if url is None:
            _fail(f"no REDIS_URL, and no `jobcast up` running in {settings.data_dir}; "
                  "set REDIS_URL or start `jobcast up` here", EXIT_UNREACHABLE)
        settings = settings.model_copy(update={"redis_url": url})
    sys.path.insert(0, str(Path(app_dir).resolve()))
    return settings


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Any]:
    """The application's queues (JobQueue) and their Admin, closed afterwards."""
    from ..admin import Admin
    from ..queue import JobQueue
    from ..redis import FastRedis
    from ..registry import load_jobs

    fast = FastRedis(settings.redis_target("jobcast"))
    queue = JobQueue(load_jobs(settings.jobs), settings, fast)
    try:
        yield Admin(queue)
    finally:
        await fast.aclose()


def run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a command's coroutine; its errors become one line and the exit code they mean."""
    from ..admin import NotFound, Refused
    from ..redis import REDIS_ERRORS

    try:
        return asyncio.run(work())
    except Stop as stop:
        _fail(str(stop), stop.code)
    except (QueueUnavailable, *REDIS_ERRORS) as err:
        _fail(f"Redis is unreachable: {err}", EXIT_UNREACHABLE)
    except (NotFound, UnknownJob) as err:
        _fail(str(err), EXIT_UNKNOWN)
    except InvalidInput as err:
        details = "; ".join(f"{d.get('index', '')}{'.' if 'index' in d else ''}"
                            f"{d.get('field') or '(input)'}: {d['message']}"
                            for d in err.details)
        _fail(f"invalid input: {details}", EXIT_INVALID)
    except Refused as err:
        _fail(str(err), EXIT_FAILED)
    raise AssertionError("unreachable")  # pragma: no cover


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"jobcast: {message}", err=True)
    sys.exit(code)


# -- options and output ----------------------------------------------------------------------

def ops_options(f: Any) -> Any:
    f = click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")(f)
    f = click.option("--app-dir", default=".", show_default=True,
                     help="Put this directory on the import path first.")(f)
    return click.option("--jobs", metavar="MODULE:ATTR",
                        help="The job registry [JOBCAST_JOBS; default: the demo jobs].")(f)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, default=str))


def table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """One line a row: every column but the last as wide as its widest cell, the last
    shortened to fit the terminal."""
    from rich.console import Console
    from rich.table import Table

    view = Table(title=title, title_justify="left", header_style="bold")
    for i, column in enumerate(columns):
        widest = max([len(column), *[len(row[i]) for row in rows]])
        last = i == len(columns) - 1
        view.add_column(column, no_wrap=True, overflow="ellipsis",
                        min_width=None if last else min(widest, 24), ratio=1 if last else None)
    for row in rows:
        view.add_row(*row)
    Console().print(view)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def duration_ms(text: str) -> int:
    """ "90s", "15m", "1h", "2d", "1h30m" → milliseconds."""
    parts = _DURATION.findall(text.strip().lower())
    if not parts or "".join(n + u for n, u in parts) != text.strip().lower():
        raise click.BadParameter(f"{text!r}: a duration such as 90s, 15m, 1h or 2d")
    return int(sum(float(n) * _UNIT_MS[u] for n, u in parts))


def _when(ms: int | None, short: bool = False) -> str:
    if not ms:
        return ""
    import datetime

    moment = datetime.datetime.fromtimestamp(ms / 1000)
    return moment.strftime("%m-%d %H:%M:%S" if short else "%Y-%m-%d %H:%M:%S")


# -- commands ----------------------------------------------------------------------------------

@click.command(epilog=EXIT_CODES)
@ops_options
def queues(jobs: str | None, app_dir: str, as_json: bool) -> None:
    """Each queue's jobs by state."""
    settings = ops_settings(jobs, app_dir)

    async def work() -> Any:
        async with opened(settings) as admin:
            return await admin.counts()

    counts = run(work)
    if as_json:
        emit_json([c.to_json() for c in counts.values()])
        return
    states = ["waiting", "active", "delayed", "completed", "failed", "paused"]
    table("queues", ["queue", *states],
          [[c.queue + (" (paused)" if c.is_paused else ""),
            *[str(getattr(c, s)) for s in states]] for c in counts.values()])


@click.command(epilog=EXIT_CODES)
@ops_options
@click.option("--state", default="failed", show_default=True,
              type=click.Choice(["waiting", "active", "delayed", "completed", "failed",
                                 "paused", "prioritized"]))
@click.option("--job", "job_name", metavar="NAME", help="Only this job (and its queue).")
@click.option("--queue", "queue_name", metavar="QUEUE", help="Only this queue.")
@click.option("--search", metavar="TEXT", help="An id, field:value of the data, or text.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
def jobs_(jobs: str | None, app_dir: str, as_json: bool, state: str, job_name: str | None,
          queue_name: str | None, search: str | None, limit: int) -> None:
    """A page of jobs in a state, newest first."""
    settings = ops_settings(jobs, app_dir)

    async def work() -> Any:
        async with opened(settings) as admin:
            if job_name is not None and job_name not in admin.queue.jobs:
                raise UnknownJob(job_name, admin.queue.jobs.names())
            wanted = ([queue_name] if queue_name else
                      [admin.queue.jobs[job_name].queue] if job_name else admin.queues)
            return [await admin.jobs(q, state, name=job_name, search=search, limit=limit)
                    for q in wanted]

    pages = run(work)
    if as_json:
        emit_json([p.to_json() for p in pages])
        return
    rows = [[j.id, j.name, f"{j.progress:g}%", str(j.attempts_made),
             _when(j.finished_at or j.created_at, short=True),
             (j.reason or j.message or j.preview)[:200]]
            for p in pages for j in p.jobs][:limit]
    total = sum(p.total for p in pages)
    table(f"{state} jobs: {len(rows)} of {total}", ["id", "job", "%", "runs", "when", "about"],
          rows)


@click.command(epilog=EXIT_CODES)
@ops_options
@click.argument("job_id")
def show(jobs: str | None, app_dir: str, as_json: bool, job_id: str) -> None:
    """A job's whole record."""
    settings = ops_settings(jobs, app_dir)

    async def work() -> Any:
        async with opened(settings) as admin:
            detail = await admin.job(None, job_id)
            if detail is None:
                raise Stop(f"unknown job {job_id!r}", EXIT_UNKNOWN)
            return detail

    detail = run(work)
    if as_json:
        emit_json(detail.to_json())
        return
    row = detail.row
    from rich.console import Console
    from rich.pretty import Pretty

    console = Console()
    console.print(f"[bold]{row.name}[/] {row.id} — [bold]{row.state}[/] "
                  f"{row.progress:g} %{' — ' + row.message if row.message else ''}")
    console.print(f"queue {row.queue}, attempts {row.attempts_made} of {row.attempts}, "
                  f"added {_when(row.created_at)}, finished {_when(row.finished_at) or '-'}")
    console.print("data:", Pretty(detail.data))
    if detail.result is not None:
        console.print("result:", Pretty(detail.result))
    if row.reason:
        console.print(f"[red]reason:[/] {row.reason}")
    if detail.stacktrace:
        console.print("stack:\n" + detail.stacktrace[-1])
    if detail.output:
        console.print(f"output ({detail.output_count} entries, the newest):\n" +
                      "".join(e["text"] for e in detail.output))
    if detail.logs:
        console.print("log:\n" + "\n".join(e["text"] for e in detail.logs))


def _action(verb: str, act: Callable[[Any, str | None, str], Awaitable[Any]]) -> Any:
    @click.command(name=verb, epilog=EXIT_CODES, help=f"{verb.capitalize()} a job.")
    @ops_options
    @click.argument("job_id")
    def command(jobs: str | None, app_dir: str, as_json: bool, job_id: str) -> None:
        settings = ops_settings(jobs, app_dir)

        async def work() -> Any:
            async with opened(settings) as admin:
                queue = await admin.find(job_id)
                if queue is None:
                    raise Stop(f"unknown job {job_id!r}", EXIT_UNKNOWN)
                await act(admin, queue, job_id)
                detail = await admin.job(queue, job_id)
                return detail.row.state if detail else "removed"

        state = run(work)
        if as_json:
            emit_json({"jobId": job_id, "state": state})
        else:
            click.echo(f"{job_id}: {state}")
        if verb == "cancel" and state not in ("cancelled", "removed"):
            sys.exit(EXIT_FAILED)  # asked, not stopped: its worker did not stop it in time

    return command


retry = _action("retry", lambda admin, queue, job_id: admin.retry(queue, job_id))
cancel = _action("cancel", lambda admin, _queue, job_id: admin.cancel(job_id))


@click.command(epilog=EXIT_CODES)
@ops_options
@click.option("--state", required=True,
              type=click.Choice(["completed", "failed", "waiting", "delayed", "paused",
                                 "prioritized"]))
@click.option("--older-than", "older_than", required=True, metavar="AGE",
              help="e.g. 90s, 15m, 1h, 2d.")
@click.option("--queue", "queue_name", metavar="QUEUE", help="Only this queue.")
@click.option("--limit", type=int, help="At most this many.")
@click.option("--yes", is_flag=True, help="Do not ask.")
def clean(jobs: str | None, app_dir: str, as_json: bool, state: str, older_than: str,
          queue_name: str | None, limit: int | None, yes: bool) -> None:
    """Remove the jobs of a state older than an age."""
    age_ms = duration_ms(older_than)
    settings = ops_settings(jobs, app_dir)
    if not yes and not as_json and sys.stdin.isatty():
        click.confirm(f"Remove {state} jobs older than {older_than}"
                      f"{' of ' + queue_name if queue_name else ' of every queue'}?",
                      abort=True)

    async def work() -> dict[str, int]:
        async with opened(settings) as admin:
            wanted = [queue_name] if queue_name else admin.queues
            return {q: await admin.clean(q, state, age_ms, limit) for q in wanted}

    removed = run(work)
    if as_json:
        emit_json({"removed": removed})
    else:
        for queue, count in removed.items():
            click.echo(f"{queue}: {count} {state} job(s) removed")


def _queue_action(verb: str) -> Any:
    @click.command(name=verb, epilog=EXIT_CODES, help=f"{verb.capitalize()} a queue.")
    @ops_options
    @click.argument("queue_name", metavar="QUEUE")
    def command(jobs: str | None, app_dir: str, as_json: bool, queue_name: str) -> None:
        settings = ops_settings(jobs, app_dir)

        async def work() -> Any:
            async with opened(settings) as admin:
                await getattr(admin, verb)(queue_name)
                return (await admin.counts([queue_name]))[queue_name]

        counts = run(work)
        if as_json:
            emit_json(counts.to_json())
        else:
            click.echo(f"{queue_name}: {'paused' if counts.is_paused else 'running'}")

    return command


pause, resume = _queue_action("pause"), _queue_action("resume")
jobs_.name = "jobs"
COMMANDS = [queues, jobs_, show, retry, cancel, clean, pause, resume]
__all__ = ["COMMANDS", "EXIT_CODES", "Stop", "opened", "ops_options", "ops_settings", "run",
           "write_up_state"]

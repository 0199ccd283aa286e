"""Run a cpu_bound handler in its own child process.

A handler that computes for minutes would block the worker's event loop, and with it
bullmq's lock renewal: the job would be declared stalled and run twice. So each cpu_bound
job runs in a process forked from a forkserver (cheap, and no threads inherited). Progress
comes back over a pipe; a timeout or a cancel terminates the process for real.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from ..context import JobContext, JobInfo
from ..errors import InvalidInput, JobCancelled, JobFailed
from ..registry import JobSpec
from .links import ChildLinks
from .outcome import Cancelled, Completed, Failed, Outcome
from .result import ResultError, serialise_result
from .stacks import handler_stack, user_reason

_mp = multiprocessing.get_context("forkserver")
_KILL_GRACE_S = 2.0


def preload(modules: list[str]) -> None:
    """Import these modules once in the forkserver, so each job's child starts warm."""
    _mp.set_forkserver_preload(["jobcast", *modules])


def start_forkserver() -> None:
    """Start the forkserver now (it imports the preloaded modules, about a second): left to
    the first cpu_bound job, that start would block the worker's event loop."""
    from multiprocessing import forkserver

    forkserver.ensure_running()


async def run_in_child(
    spec: JobSpec,
    data_json: str,
    info: JobInfo,
    on_progress: Callable[[float], None],
    on_log: Callable[[str], None],
    interval: float,
) -> Outcome:
    """Run ``spec.handler`` in a child process and return how it ended; cancel this coroutine
    to kill the child (it is gone when the cancellation propagates)."""
    loop = asyncio.get_running_loop()
    receiver, sender = _mp.Pipe(duplex=False)
    process = _mp.Process(
        target=_child_main,
        args=(spec, data_json, info, sender, interval),
        name=f"jobcast:{info.name}:{info.job_id}",
        daemon=True,
    )
    process.start()
    sender.close()
    outcome: asyncio.Future[Any] = loop.create_future()

    def on_readable() -> None:
        try:
            while receiver.poll():
                kind, *payload = receiver.recv()
                if kind == "progress":
                    on_progress(payload[0])
                elif kind == "log":
                    on_log(payload[0])
                elif not outcome.done():
                    outcome.set_result((kind, payload))
        except (EOFError, OSError):
            loop.remove_reader(receiver.fileno())
            if not outcome.done():
                outcome.set_result(("crashed", []))

    loop.add_reader(receiver.fileno(), on_readable)
    try:
        kind, payload = await outcome
    finally:
        loop.remove_reader(receiver.fileno())
        receiver.close()
        exit_code = await _stop(process)
    if kind == "crashed":  # it died without an answer (OOM, a segfault); _stop reaped it
        return Failed(f"the job's process exited unexpectedly (exit code {exit_code})")
    if kind == "ok":
        return Completed(payload[0])
    if kind == "cancelled":
        return Cancelled()
    reason, retry, stack = payload
    return Failed(reason, retry=retry, stack=stack)


async def _stop(process: Any) -> int | None:
    """Make sure the child is gone: it may still be computing (timeout, cancel)."""
    if process.exitcode is None:
        process.terminate()
        deadline = time.monotonic() + _KILL_GRACE_S
        while process.exitcode is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if process.exitcode is None:
            process.kill()
    await asyncio.to_thread(process.join, 5)
    exit_code: int | None = process.exitcode
    process.close()
    return exit_code


def _child_main(
    spec: JobSpec,
    data_json: str,
    info: JobInfo,
    conn: Connection,
    interval: float,
) -> None:
    # Ctrl-C reaches the whole process group; the parent decides what happens to the job.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _exit_with_worker(conn)
    sent = {"at": 0.0, "value": -1.0, "last": -1.0}

    def report(value: float) -> None:
        # Throttle here too, so a million progress() calls don't flood the pipe.
        if value <= sent["last"]:
            return
        sent["last"] = value
        now = time.monotonic()
        if now - sent["at"] >= interval or value >= 100:
            sent["at"], sent["value"] = now, value
            conn.send(("progress", value))

    ctx = JobContext(info, report, links=ChildLinks(conn, info.children, info.failed_children))
    try:
        result = spec.handler(ctx, spec.parse_json(data_json))
        if sent["last"] > sent["value"]:
            conn.send(("progress", sent["last"]))
        conn.send(("ok", serialise_result(result)))
    except JobCancelled:
        conn.send(("cancelled",))
    except JobFailed as err:
        conn.send(("failed", str(err), err.retry, ""))
    except (InvalidInput, ResultError) as err:
        conn.send(("failed", _input_reason(err), False, ""))
    except BaseException as err:  # noqa: BLE001 - everything must reach the parent
        conn.send(("failed", user_reason(err), True, handler_stack(err)))
    finally:
        conn.close()
        os._exit(0)  # skip atexit handlers inherited from the forkserver


def _input_reason(err: Exception) -> str:
    if isinstance(err, InvalidInput):
        return f"the job's stored data does not fit its input model: {err.details}"
    return str(err)


def _exit_with_worker(conn: Connection) -> None:
    """If the worker dies (OOM killer, kill -9), stop: the job is re-run elsewhere.

    The forkserver, this process's parent, outlives the worker while children exist, so a
    parent-death signal never comes. The pipe does tell: its read end closes with the worker,
    and poll() reports an error on our write end.
    """

    def watch() -> None:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLERR | select.POLLHUP)
        poller.poll()
        os._exit(1)

    threading.Thread(target=watch, name="jobcast-parent-watch", daemon=True).start()

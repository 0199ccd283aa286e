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
import pickle
import select
import signal
import struct
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
    on_progress: Callable[[float, str | None], None],
    on_write: Callable[[str], None],
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

    frames = _Frames(receiver.fileno())

    def on_readable() -> None:
        try:
            messages, ended = frames.read()
        except OSError:
            messages, ended = [], True
        for kind, *payload in messages:
            if kind == "progress":
                on_progress(payload[0], payload[1])
            elif kind == "output":
                on_write(payload[0])
            elif kind == "log":
                on_log(payload[0])
            elif not outcome.done():
                outcome.set_result((kind, payload))
        if ended:
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


class _Frames:
    """The child's messages, read without ever blocking the loop.

    The event loop makes the pipe non-blocking, and a message bigger than the pipe's buffer
    (a batch of output) arrives in pieces: ``Connection.recv`` would fail half-way. So the
    bytes are gathered here and cut into messages by Connection's own framing (a 4-byte
    big-endian size, or -1 and an 8-byte size for the huge), each a pickle.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()

    def read(self) -> tuple[list[Any], bool]:
        """The whole messages arrived so far, and whether the child's end is closed."""
        ended = False
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                ended = True
                break
            self.buffer += chunk
        messages = []
        while len(self.buffer) >= 4:
            (size,), start = struct.unpack_from("!i", self.buffer), 4
            if size == -1:
                if len(self.buffer) < 12:
                    break
                (size,), start = struct.unpack_from("!Q", self.buffer, 4), 12
            if len(self.buffer) < start + size:
                break
            messages.append(pickle.loads(self.buffer[start:start + size]))
            del self.buffer[:start + size]
        return messages, ended


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
    sent: dict[str, Any] = {"at": 0.0, "last": None, "unsent": False}

    def report(value: float, message: str | None) -> None:
        # Throttle here too, so a million progress() calls don't flood the pipe.
        last = sent["last"]
        if last is not None and (value < last[0] or (value, message) == last):
            return
        sent["last"], sent["unsent"] = (value, message), True
        now = time.monotonic()
        if now - sent["at"] >= interval or value >= 100:
            sent["at"], sent["unsent"] = now, False
            conn.send(("progress", value, message))

    links = ChildLinks(conn, info.children, info.failed_children, interval or 0.05)
    ctx = JobContext(info, report, links=links)
    try:
        result = spec.handler(ctx, spec.parse_json(data_json))
        links.flush()
        if sent["unsent"]:
            conn.send(("progress", *sent["last"]))
        conn.send(("ok", serialise_result(result)))
    except JobCancelled:
        links.flush()
        conn.send(("cancelled",))
    except JobFailed as err:
        links.flush()
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

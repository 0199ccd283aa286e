"""A failure as BullMQ stores it: the exception's message as the reason users see, and the
handler's own stack (not the worker's frames around it) as the job's stacktrace."""

from __future__ import annotations

import traceback
from pathlib import Path

_WORKER_DIR = str(Path(__file__).parent)
_MAX_REASON = 1000


def user_reason(err: BaseException) -> str:
    """One line: the message (Node's ``err.message``), or the type when there is none."""
    message = " ".join(str(err).split())
    return (message or type(err).__name__)[:_MAX_REASON]


def handler_stack(err: BaseException) -> str:
    """The error, then the frames from the handler's on, as Node's ``err.stack`` (message first,
    the processor's frames after; jobcast's own frames above the handler are left out)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_WORKER_DIR):
        tb = tb.tb_next
    frames = "".join(traceback.format_tb(tb)).rstrip()
    head = "".join(traceback.format_exception_only(type(err), err)).rstrip()
    cause = err.__cause__ or (None if err.__suppress_context__ else err.__context__)
    tail = f"\n\nCaused by: {handler_stack(cause)}" if cause is not None else ""
    return f"{head}\n{frames}{tail}" if frames else f"{head}{tail}"

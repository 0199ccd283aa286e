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
    """The traceback from the handler's frame on, as Node's ``err.stack`` starts at the
    processor: jobcast's own frames above it are left out."""
    tb = err.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_WORKER_DIR):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(err), err, tb)).rstrip()

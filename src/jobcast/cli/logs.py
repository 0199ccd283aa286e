"""The processes' log lines: one format, a level from the settings, and cheap enough that a
line per finished job costs little at thousands of jobs a second."""

from __future__ import annotations

import atexit
import logging
import threading
import time

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class _Formatter(logging.Formatter):
    """logging's own format, with the timestamp's second formatted once per second (strftime
    was a third of the cost of a line)."""

    _second = -1
    _text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._text},{int(record.msecs):03d}"


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each line at once but flushes at most every FLUSH_S (a flush per line was a
    system call per finished job); a daemon thread and exit flush the rest."""

    FLUSH_S = 0.2

    def __init__(self) -> None:
        super().__init__()
        self._dirty = False
        threading.Thread(target=self._flusher, name="jobcast-log-flush", daemon=True).start()
        atexit.register(self.flush)

    def flush(self) -> None:
        self._dirty = False
        super().flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            self._dirty = True
        except Exception:  # noqa: BLE001 - logging never raises into the program
            self.handleError(record)
        if record.levelno >= logging.WARNING:
            self.flush()  # what matters is seen at once

    def _flusher(self) -> None:
        while True:
            time.sleep(self.FLUSH_S)
            if self._dirty:
                self.acquire()
                try:
                    self.flush()
                finally:
                    self.release()


def configure(level: str = "info") -> None:
    handler = _Handler()
    handler.setFormatter(_Formatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())

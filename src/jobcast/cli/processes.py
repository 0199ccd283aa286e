"""Child-process hygiene shared by the supervisors (jobcast up, worker --processes, cpu jobs)."""

from __future__ import annotations

import signal


def die_with_parent() -> None:
    """Run in a child before exec (Linux): SIGTERM it if its parent dies, even by SIGKILL,
    so a killed ``jobcast up`` leaves no orphans behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

"""The tools a test needs beyond Python: found, skipped on a user's machine, required in CI."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any

import httpx
import pytest


def require_tool(name: str, hint: str) -> str:
    """The tool's path; skipped on a user's machine without it, a failure in CI."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.access(f"/usr/sbin/{name}", os.X_OK)
                                  else None)
    if path:
        return path
    message = f"{name} is not installed ({hint})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI must have it", pytrace=False)
    pytest.skip(message)


@dataclass
class InProcess:
    """jobcast's web app and worker in the test's own process, on a real redis-server."""

    app: Any
    worker: Any
    http: httpx.AsyncClient
    db: Any

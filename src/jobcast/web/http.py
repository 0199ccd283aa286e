"""Small HTTP pieces the web modules share: JSON responses, error bodies, mount-aware paths
(the security headers are headers.py's)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import orjson
from fastapi.responses import JSONResponse


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error(status: int, message: str, **extra: Any) -> ORJSONResponse:
    return ORJSONResponse({"error": message, **extra}, status_code=status)


def route_path(scope: MutableMapping[str, Any]) -> str:
    """The path inside this app: without the prefix it is mounted under (``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root):] or "/"
    return path

"""The security headers every page a browser opens carries (DESIGN decision 12): the demo
page, the dashboard, the browser client, /api/docs, result files and the JSON API alike.

- ``Content-Security-Policy``: scripts and styles from this origin only, never inline (the
  pages jobcast serves have no inline script, style or handler; tests check it), nothing
  loaded from elsewhere, never framed (``frame-ancestors 'none'``: no clickjacking of the
  dashboard's buttons), forms posting to this origin only;
- ``X-Content-Type-Options: nosniff``: a result file or a JSON answer is never run as script;
- ``X-Frame-Options: DENY`` for browsers older than ``frame-ancestors``;
- ``Referrer-Policy: same-origin``: a job id in the dashboard's URL does not leave the site.

A response that sets one of these itself keeps its own: result files send RESULT_CSP, which
also sandboxes whatever a job wrote (an HTML file opened in a tab runs no script there).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'; object-src 'none'")
"""No inline script or style, nothing from elsewhere, never framed (no clickjacking).
``ws: wss:`` because browsers before CSP 3 do not count this origin's WebSocket as 'self'."""

RESULT_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"
"""For files a job produced: no script, no requests, no frame, a sandboxed unique origin."""

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """ASGI middleware: the headers of SECURITY_HEADERS on every HTTP response (those a
    response set itself are left as they are)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *[h for h in SECURITY_HEADERS if h[0] not in present]]
            await send(message)

        await self.app(scope, receive, with_headers)

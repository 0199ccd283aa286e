"""The application's say over who may do what with a job.

jobcast's ids are unguessable, which is enough for many apps. An app that knows its users
passes ``owner`` (who is this client?) and/or ``authorize`` (may they do this?) to
``create_app``; both see the HTTP request's or the Socket.IO handshake's headers and cookies.
With ``owner`` set, a job is visible only to the client that started it: anyone else gets
"unknown job", exactly as for an id that never existed.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import cookie_parser

from .tokens import READ_ONLY, BadToken, WatchTokens

Action = Literal["enqueue", "join", "status", "result", "cancel", "dashboard", "dashboard-action"]
"""What the client wants to do. The dashboard asks ``authorize`` with "dashboard" (to look:
``job`` is "" and ``job_id`` None) and "dashboard-action" (to change something: ``extra`` says
what, e.g. ``{"operation": "retry", "queue": "report", "jobId": "..."}``); a hook that answers
yes to actions it does not know opens the dashboard to whoever it says yes to."""


@dataclass(frozen=True)
class Caller:
    """Who is asking: their headers (lower-case names), cookies and address."""

    headers: Mapping[str, str]
    cookies: Mapping[str, str]
    address: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any]) -> Caller:
        """From a Socket.IO handshake's WSGI-style environ."""
        headers = {
            k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        return cls(headers, cookie_parser(headers.get("cookie", "")), environ.get("REMOTE_ADDR"))

    @classmethod
    def from_asgi(cls, headers: Mapping[str, str], address: str | None) -> Caller:
        # Starlette's parser reads cookies as browsers send them: one malformed cookie of
        # another site's does not hide the others (http.cookies drops them all).
        return cls(headers, cookie_parser(headers.get("cookie", "")), address)


@dataclass(frozen=True)
class Access:
    action: Action
    job: str
    job_id: str | None
    client: Caller
    extra: dict[str, Any] = field(default_factory=dict)
    token: str | None = None
    """A watch token the client presented (web/tokens.py)."""


OwnerHook = Callable[[Caller], "str | None | Awaitable[str | None]"]
AuthorizeHook = Callable[[Access], "bool | Awaitable[bool]"]


@dataclass(frozen=True)
class AccessPolicy:
    owner: OwnerHook | None = None
    authorize: AuthorizeHook | None = None
    tokens: WatchTokens | None = None

    @property
    def checks(self) -> bool:
        """Whether the app decides who sees what (else an unguessable id is the key)."""
        return self.owner is not None or self.authorize is not None

    async def owner_of(self, client: Caller) -> str | None:
        if self.owner is None:
            return None
        return await _maybe_await(self.owner(client))

    async def permits(self, access: Access, job_owner: str | None) -> bool:
        """True if ``access`` is allowed: by a valid watch token for this job (read-only
        actions), or same owner (when owners are tracked) and authorized. A token that does not
        hold raises BadToken, whose message is the refusal."""
        if access.token is not None and access.action in READ_ONLY and access.job_id:
            if self.tokens is None:
                raise BadToken("this server issues no watch tokens")
            self.tokens.check(access.token, access.job_id)
            return True
        if self.owner is not None and access.action != "enqueue":
            if job_owner is None or job_owner != await self.owner_of(access.client):
                return False
        if self.authorize is not None:
            return bool(await _maybe_await(self.authorize(access)))
        return True


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


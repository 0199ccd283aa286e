"""Who may look at the dashboard and who may change things through it.

In order: the dashboard token (``JOBCAST_DASHBOARD_TOKEN``), sent as ``Authorization: Bearer``
or kept, after the login form, as a signed session cookie (HttpOnly, SameSite=Strict); then the
application's ``authorize`` hook, asked with action "dashboard" to look and "dashboard-action"
to act; with neither a token nor a hook, clients on this machine (loopback) only, asking for it
by a local name (Host: localhost or 127.0.0.1; no DNS rebinding).
``JOBCAST_DASHBOARD_READ_ONLY`` refuses every change, whoever asks.

A change (a POST) authenticated by anything a browser sends by itself (the session cookie, the
application's own cookies, a loopback address) must also prove it comes from the dashboard's
page: an ``X-CSRF-Token`` header equal to the ``jobcast_csrf`` cookie (a page of another site
can neither read that cookie nor send that header without a preflight jobcast refuses), and an
``Origin``/``Sec-Fetch-Site`` of this origin when the browser sends them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import ipaddress
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..settings import Settings
from ..web.access import Access, AccessPolicy, Caller

SESSION_COOKIE = "jobcast_dashboard"
CSRF_COOKIE = "jobcast_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_S = 12 * 3600
"""A login lasts this long."""
LOGIN_FAILURES = 10
"""Wrong tokens per client address per minute before the login form makes it wait."""

Via = Literal["token", "session", "hook", "loopback"]


class Denied(Exception):
    """The request may not do this; ``status`` is 401 (sign in) or 403 (not you, not now)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Grant:
    """Let in, by ``via``; ``may_act`` says whether it may change anything."""

    via: Via
    may_act: bool
    read_only_reason: str | None = None


def is_loopback(address: str | None) -> bool:
    """A client on this machine (a unix socket's peer is unknown: it may be a proxy)."""
    if not address:
        return False
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def is_local_host(host: str | None) -> bool:
    """A Host header naming this machine: localhost (or a name under it) or a loopback address.
    Open to loopback clients only, the dashboard also wants this: a page of another site that
    rebinds its own name to 127.0.0.1 (DNS rebinding) is same-origin with itself, so it would
    pass the Origin and CSRF checks; its requests still say its own name in Host."""
    if not host:
        return False
    name = host.strip().lower()
    if name.startswith("["):  # [::1]:8000
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    name = name.rstrip(".")
    return name == "localhost" or name.endswith(".localhost") or is_loopback(name)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Gate:
    """Example usage::

        gate = Gate(settings, policy)
        grant = await gate.let_in(caller, bearer)            # raises Denied
        await gate.may_act(grant, caller, {"operation": "retry", ...})
    """

    def __init__(self, settings: Settings, policy: AccessPolicy) -> None:
        secret = settings.dashboard_token
        self.token = secret.get_secret_value() if secret is not None else None
        self.read_only = settings.dashboard_read_only
        self.authorize = policy.authorize
        self._failures: dict[str, tuple[int, float]] = {}

    @property
    def mode(self) -> str:
        """How it is protected, for the log and the docs' words."""
        parts = [p for p, on in (("the token", self.token), ("the authorize hook",
                                                             self.authorize)) if on]
        return " or ".join(parts) if parts else "loopback clients only"

    # -- sessions ----------------------------------------------------------------------------

    def _sign(self, expiry: int) -> str:
        assert self.token is not None
        mac = hmac.new(self.token.encode(), f"jobcast-dashboard\n{expiry}".encode(),
                       hashlib.sha256).digest()
        return _b64(mac)

    def session(self, now: float | None = None) -> str:
        """A session cookie's value: ``<expiry>.<HMAC of it with the token>`` (a new token
        ends every session)."""
        expiry = int((now or time.time()) + SESSION_S)
        return f"{expiry}.{self._sign(expiry)}"

    def valid_session(self, value: str | None, now: float | None = None) -> bool:
        if not value or self.token is None:
            return False
        expiry_text, _, mac = value.partition(".")
        if not expiry_text.isdigit() or int(expiry_text) < (now or time.time()):
            return False
        return hmac.compare_digest(mac, self._sign(int(expiry_text)))

    def token_matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def login_allowed(self, address: str | None) -> bool:
        """False after LOGIN_FAILURES wrong tokens from this address within a minute."""
        count, since = self._failures.get(address or "", (0, 0.0))
        return count < LOGIN_FAILURES or time.monotonic() - since > 60

    def login_failed(self, address: str | None) -> None:
        now = time.monotonic()
        count, since = self._failures.get(address or "", (0, now))
        if now - since > 60:
            count, since = 0, now
        if len(self._failures) > 10_000:  # bounded, whoever knocks
            self._failures.clear()
        self._failures[address or ""] = (count + 1, since)

    # -- decisions ---------------------------------------------------------------------------

    async def let_in(self, client: Caller, bearer: str | None) -> Grant:
        """May ``client`` look? The grant, or Denied."""
        via: Via | None = None
        if self.token is not None and bearer is not None:
            if not self.token_matches(bearer):
                raise Denied(401, "wrong dashboard token")
            via = "token"
        elif self.valid_session(client.cookies.get(SESSION_COOKIE)):
            via = "session"
        elif self.authorize is not None and await self._ask(client, "dashboard", {}):
            via = "hook"
        elif self.token is None and self.authorize is None and is_loopback(client.address):
            if not is_local_host(client.headers.get("host")):
                raise Denied(403, "the dashboard is open to this machine only, by the names "
                                  "localhost and 127.0.0.1 (or set JOBCAST_DASHBOARD_TOKEN)")
            via = "loopback"
        if via is None:
            if self.token is not None:
                raise Denied(401, "sign in with the dashboard token (JOBCAST_DASHBOARD_TOKEN)")
            if self.authorize is not None:
                raise Denied(403, "the application's access hook does not let you in")
            raise Denied(403, "the dashboard is open to this machine only: set "
                              "JOBCAST_DASHBOARD_TOKEN (or an authorize hook) to open it to others")
        if self.read_only:
            return Grant(via, False, "the dashboard is read-only (JOBCAST_DASHBOARD_READ_ONLY)")
        if via == "hook" and not await self._ask(client, "dashboard-action", {"operation": "*"}):
            return Grant(via, False, "the application's access hook lets you look, not act")
        return Grant(via, True)

    async def may_act(self, grant: Grant, client: Caller, what: Mapping[str, Any]) -> None:
        """Raise Denied unless this grant may do ``what`` (``{"operation": ..., ...}``)."""
        if self.read_only:
            raise Denied(403, "the dashboard is read-only (JOBCAST_DASHBOARD_READ_ONLY)")
        if grant.via == "hook" and not await self._ask(client, "dashboard-action", dict(what)):
            raise Denied(403, "the application's access hook does not let you do this")

    async def _ask(self, client: Caller, action: Literal["dashboard", "dashboard-action"],
                   extra: dict[str, Any]) -> bool:
        assert self.authorize is not None
        answer = self.authorize(Access(action, "", extra.get("jobId"), client, extra))
        return bool(await answer if inspect.isawaitable(answer) else answer)

    @staticmethod
    def check_csrf(headers: Mapping[str, str], cookies: Mapping[str, str], origin: str) -> None:
        """A change from a browser must come from this origin's dashboard page."""
        sent_from = headers.get("origin")
        if sent_from is not None and sent_from.rstrip("/") != origin:
            raise Denied(403, f"refused: a request from {sent_from} (the dashboard takes changes "
                              "from its own page only)")
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            raise Denied(403, f"refused: a {site} request (the dashboard takes changes from "
                              "its own page only)")
        sent, kept = headers.get(CSRF_HEADER, ""), cookies.get(CSRF_COOKIE, "")
        if not sent or not kept or not hmac.compare_digest(sent.encode(), kept.encode()):
            raise Denied(403, "missing or wrong CSRF token (X-CSRF-Token must equal the "
                              "jobcast_csrf cookie): reload the dashboard")

    @staticmethod
    def new_csrf() -> str:
        return secrets.token_urlsafe(24)

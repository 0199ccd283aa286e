"""The dashboard's HTTP side: its page, the login form, and its JSON API under
``/dashboard/api/``. Every route asks the Gate first; every change also passes the CSRF check
(unless a bearer token, which no browser sends by itself, authenticated it)."""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from .._version import __version__
from ..admin import BULK_ACTIONS, CLEANABLE, STATES, Admin, Invalid, NotFound, Refused
from ..ids import is_job_id
from ..web.access import Caller
from ..web.http import ORJSONResponse, error
from .access import CSRF_COOKIE, SESSION_COOKIE, SESSION_S, Denied, Gate, Grant
from .live import Hub

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 64 * 1024
NO_STORE = {"Cache-Control": "no-store"}


class Dashboard:
    """What the routes use, kept on the app's state (``request.app.state.dashboard``)."""

    def __init__(self, admin: Admin, gate: Gate, hub: Hub, metrics_points: int) -> None:
        self.admin = admin
        self.gate = gate
        self.hub = hub
        self.metrics_points = metrics_points
        self.index = (STATIC / "index.html").read_text()
        self.login = (STATIC / "login.html").read_text()


def dashboard(request: Request) -> Dashboard:
    found: Dashboard = request.app.state.dashboard
    return found


Use = Annotated[Dashboard, Depends(dashboard)]
router = APIRouter(include_in_schema=False)


def caller(request: Request) -> Caller:
    return Caller.from_asgi(request.headers, request.client.host if request.client else None)


def bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


def _cookie(response: Response, request: Request, name: str, value: str, *, max_age: int | None,
            http_only: bool) -> None:
    response.set_cookie(name, value, max_age=max_age, path=f"{_root(request)}/",
                        httponly=http_only, samesite="strict",
                        secure=request.url.scheme == "https")


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def _denied(err: Denied) -> Response:
    return error(err.status, str(err))


async def let_in(dash: Dashboard, request: Request) -> Grant:
    return await dash.gate.let_in(caller(request), bearer(request))


async def acting(dash: Dashboard, request: Request, what: dict[str, Any]) -> Grant:
    """The grant for a change: let in, allowed to do ``what``, and from the dashboard's page
    (or with a bearer token)."""
    grant = await let_in(dash, request)
    if grant.via != "token":
        client = caller(request)
        dash.gate.check_csrf(request.headers, client.cookies, _origin(request))
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise Denied(415, "send JSON (Content-Type: application/json)")
    await dash.gate.may_act(grant, caller(request), what)
    return grant


class TooLarge(Invalid):
    """A body past MAX_BODY (413)."""


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise TooLarge(f"the body is over {MAX_BODY // 1024} KiB")
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Invalid("malformed JSON") from None
    if not isinstance(value, dict):
        raise Invalid("send a JSON object")
    return value


def _checked(job_id: str) -> str:
    """A job id from the URL, refused before it reaches Redis (or an error message) unless it
    is one jobcast accepts anywhere: visible ASCII without "/", at most 256 characters."""
    if not is_job_id(job_id):
        raise Invalid("not a job id: ids are 1 to 256 visible ASCII characters, no \"/\"")
    return job_id


async def answer(run: Callable[[], Awaitable[Any]]) -> Response:
    """Run an admin call; its refusals as the API's JSON errors."""
    try:
        value = await run()
    except Denied as err:
        return _denied(err)
    except NotFound as err:
        return error(404, str(err))
    except TooLarge as err:
        return error(413, str(err))
    except Invalid as err:
        return error(422, str(err))
    except Refused as err:  # possible, not now: the job's or the queue's state says no
        return error(409, str(err))
    return ORJSONResponse(value, headers=NO_STORE)


# -- the page -----------------------------------------------------------------------------------

@router.get("/dashboard")
async def to_page() -> Response:
    return RedirectResponse("dashboard/", status_code=307)  # relative: works under any prefix


@router.get("/dashboard/")
async def page(request: Request, dash: Use) -> Response:
    try:
        await let_in(dash, request)
    except Denied as err:
        if err.status == 401:
            return RedirectResponse("login", status_code=303)
        return _message_page(dash, "Not open to you", str(err), 403)
    response = HTMLResponse(dash.index, headers=NO_STORE)
    if CSRF_COOKIE not in request.cookies:
        _cookie(response, request, CSRF_COOKIE, Gate.new_csrf(), max_age=None, http_only=False)
    return response


def _message_page(dash: Dashboard, title: str, message: str, status: int,
                  form: bool = False) -> HTMLResponse:
    body = dash.login.replace("<!--title-->", html.escape(title)).replace(
        "<!--message-->", html.escape(message))
    if not form:
        body = body.replace('class="login-form"', 'class="login-form" hidden')
    return HTMLResponse(body, status_code=status, headers=NO_STORE)


@router.get("/dashboard/login")
async def login_page(request: Request, dash: Use) -> Response:
    if dash.gate.token is None:
        return RedirectResponse("./", status_code=303)
    failed = request.query_params.get("failed")
    message = {"1": "That is not the dashboard token.",
               "wait": "Too many wrong tokens: wait a minute."}.get(failed or "", "")
    return _message_page(dash, "Sign in", message, 401 if failed else 200, form=True)


@router.post("/dashboard/login")
async def login(request: Request, dash: Use) -> Response:
    gate = dash.gate
    try:
        sent_from = request.headers.get("origin")
        if sent_from is not None and sent_from.rstrip("/") != _origin(request):
            raise Denied(403, f"refused: a login from {sent_from}")
    except Denied as err:
        return _denied(err)
    if gate.token is None:
        return RedirectResponse("./", status_code=303)
    address = request.client.host if request.client else None
    if not gate.login_allowed(address):
        return RedirectResponse("login?failed=wait", status_code=303)
    raw = (await request.body())[:4096].decode(errors="replace")
    given = urllib.parse.parse_qs(raw).get("token", [""])[0]
    if not gate.token_matches(given):
        gate.login_failed(address)
        return RedirectResponse("login?failed=1", status_code=303)
    response = RedirectResponse("./", status_code=303)
    _cookie(response, request, SESSION_COOKIE, gate.session(), max_age=SESSION_S, http_only=True)
    _cookie(response, request, CSRF_COOKIE, Gate.new_csrf(), max_age=None, http_only=False)
    return response


@router.post("/dashboard/logout")
async def logout(request: Request, dash: Use) -> Response:
    try:
        dash.gate.check_csrf(request.headers, request.cookies, _origin(request))
    except Denied as err:
        return _denied(err)
    response = ORJSONResponse({"ok": True})
    response.delete_cookie(SESSION_COOKIE, path=f"{_root(request)}/")
    return response


# -- reading ------------------------------------------------------------------------------------

@router.get("/dashboard/api/session")
async def session(request: Request, dash: Use) -> Response:
    """Who is in, what they may do, and what there is: the page's first request."""
    try:
        grant = await let_in(dash, request)
    except Denied as err:
        return _denied(err)
    admin = dash.admin
    csrf = request.cookies.get(CSRF_COOKIE) or Gate.new_csrf()
    response = ORJSONResponse({
        "via": grant.via, "mayAct": grant.may_act, "readOnly": grant.read_only_reason,
        "csrf": csrf, "version": __version__, "states": STATES, "cleanable": CLEANABLE,
        "bulk": BULK_ACTIONS, "metrics": dash.metrics_points,
        "queues": [{"name": q, "jobs": admin.job_names(q)} for q in admin.queues],
    }, headers=NO_STORE)
    if CSRF_COOKIE not in request.cookies:
        _cookie(response, request, CSRF_COOKIE, csrf, max_age=None, http_only=False)
    return response


@router.get("/dashboard/api/queues")
async def queues(request: Request, dash: Use) -> Response:
    async def run() -> Any:
        await let_in(dash, request)
        counts = await dash.admin.counts()
        return {"queues": [c.to_json() for c in counts.values()]}

    return await answer(run)


@router.get("/dashboard/api/throughput")
async def throughput(request: Request, dash: Use,
                     minutes: Annotated[int, Query(ge=1, le=1440)] = 60) -> Response:
    async def run() -> Any:
        await let_in(dash, request)
        found = await dash.admin.throughput(minutes)
        return {"queues": {q: t.to_json() for q, t in found.items()}}

    return await answer(run)


@router.get("/dashboard/api/queues/{queue}/jobs")
async def jobs(request: Request, queue: str, dash: Use, state: str = "latest",
               name: str | None = None, search: str | None = None,
               start: Annotated[int, Query(ge=0)] = 0,
               limit: Annotated[int, Query(ge=1, le=200)] = 25) -> Response:
    async def run() -> Any:
        await let_in(dash, request)
        if state == "latest":
            found = await dash.admin.latest(queue, name=name or None, search=search,
                                            limit=limit)
        else:
            found = await dash.admin.jobs(queue, state, name=name or None, search=search,
                                          start=start, limit=limit)
        return found.to_json()

    return await answer(run)


@router.get("/dashboard/api/jobs/{job_id}")
async def job(request: Request, job_id: str, dash: Use, queue: str | None = None) -> Response:
    async def run() -> Any:
        await let_in(dash, request)
        found = await dash.admin.job(queue or None, _checked(job_id))
        if found is None:
            raise NotFound(f"no job {job_id}" + (f" in queue {queue!r}" if queue else ""))
        return found.to_json()

    return await answer(run)


@router.get("/dashboard/api/queues/{queue}/jobs/{job_id}/entries")
async def entries(request: Request, queue: str, job_id: str, dash: Use, kind: str = "output",
                  after: Annotated[int, Query(ge=-1)] = -1,
                  limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> Response:
    async def run() -> Any:
        await let_in(dash, request)
        found, total = await dash.admin.entries(queue, _checked(job_id), kind, after, limit)
        return {"jobId": job_id, "kind": kind, "total": total, "entries": found}

    return await answer(run)


# -- changing -----------------------------------------------------------------------------------

JOB_ACTIONS = ("retry", "cancel", "promote", "remove")


@router.post("/dashboard/api/queues/{queue}/jobs/{job_id}/{action}")
async def job_action(request: Request, queue: str, job_id: str, action: str,
                     dash: Use) -> Response:
    admin = dash.admin

    async def run() -> Any:
        if action not in JOB_ACTIONS:
            raise NotFound(f"unknown action {action!r}; actions: {', '.join(JOB_ACTIONS)}")
        await acting(dash, request, {"operation": action, "queue": queue, "jobId": job_id})
        _checked(job_id)
        if action == "cancel":
            # In the URL's queue only: that is the queue the access hook was asked about.
            result = await admin.cancel(job_id, queue=queue)
            return {"ok": True, "state": result.status.state.value, "stopped": result.stopped}
        await {"retry": admin.retry, "promote": admin.promote, "remove": admin.remove}[action](
            queue, job_id)
        return {"ok": True}

    return await answer(run)


@router.post("/dashboard/api/queues/{queue}/{action}")
async def queue_action(request: Request, queue: str, action: str, dash: Use) -> Response:
    admin = dash.admin

    async def run() -> Any:
        if action not in ("pause", "resume", "clean", "bulk"):
            raise NotFound(f"unknown action {action!r}: pause, resume, clean or bulk")
        body = await _body(request)
        what: dict[str, Any] = {"operation": action, "queue": queue}
        what.update({k: body[k] for k in ("state", "action", "name", "search", "olderThanS")
                     if k in body})
        await acting(dash, request, what)
        if action == "pause":
            await admin.pause(queue)
        elif action == "resume":
            await admin.resume(queue)
        elif action == "clean":
            state, age = body.get("state"), body.get("olderThanS", 0)
            if not isinstance(state, str) or not isinstance(age, (int, float)) or age < 0:
                raise Invalid('clean takes {"state": ..., "olderThanS": seconds}')
            return {"ok": True, "removed": await admin.clean(queue, state, int(age * 1000))}
        else:
            kind, state = body.get("action"), body.get("state")
            if kind not in BULK_ACTIONS or not isinstance(state, str):
                raise Invalid('bulk takes {"action": "retry" | "cancel" | ..., "state": ...}')
            result = await admin.bulk(kind, queue, state, name=_text(body.get("name")),
                                      search=_text(body.get("search")))
            return {"ok": True, **result.to_json()}
        return {"ok": True}

    return await answer(run)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None

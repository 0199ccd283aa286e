"""The dashboard: the queues and their jobs, live, at ``/dashboard`` of the web process.

Off unless ``JOBCAST_DASHBOARD=true`` (``jobcast up`` turns it on when it listens on loopback).
``create_app`` calls ``mount_dashboard`` when the setting is on; it adds:

- ``/dashboard/`` the page (HTML, JS and CSS in ``static/``; its chart library, uPlot, comes
  from npm at build time into ``static/vendor/``, and socket.io-client is the browser
  client's, ``/jobcast/vendor/``), ``/dashboard/login`` its login form;
- ``/dashboard/api/...`` its JSON API, on ``jobcast.admin`` (routes.py);
- the Socket.IO namespace ``/dashboard`` for its live pushes, fed by the bridge's events
  (live.py), on the web's one Socket.IO server;
- and asks the bridge for the event kinds it shows (``added``, ``active``, ``paused``, ...).

Who gets in is the Gate's (access.py): the dashboard token, the application's ``authorize``
hook, or, with neither, this machine only; ``JOBCAST_DASHBOARD_READ_ONLY`` changes nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi.staticfiles import StaticFiles

from ..admin import Admin
from .access import Gate
from .live import KINDS, Hub
from .routes import STATIC, Dashboard, router

if TYPE_CHECKING:
    from ..web.app import JobcastApp

__all__ = ["Hub", "mount_dashboard"]

log = logging.getLogger("jobcast.dashboard")


def mount_dashboard(app: JobcastApp) -> Hub:
    """Serve the dashboard from ``app`` (a JobcastApp); the live view's Hub is returned."""
    admin = Admin(app.queue)
    gate = Gate(app.settings, app.policy)
    hub = Hub(admin, app.sockets.sio, gate)
    app.http.state.dashboard = Dashboard(admin, gate, hub, app.settings.metrics_data_points)
    app.http.include_router(router)
    app.http.mount("/dashboard/static", StaticFiles(directory=STATIC, follow_symlink=False),
                   name="dashboard-static")
    app.event_taps.append(hub.tap)
    app.reader.kinds = app.reader.kinds | KINDS
    log.info("dashboard at /dashboard/ (open to %s%s)", gate.mode,
             "; read-only" if app.settings.dashboard_read_only else "")
    if gate.token is None and app.policy.authorize is None:
        log.info("dashboard: behind a proxy on this machine every client it forwards without "
                 "X-Forwarded-For looks local; set JOBCAST_DASHBOARD_TOKEN there")
    return hub

"""The process commands: ``up`` (everything, one command), ``web``, ``worker``, ``redis``.

Every option also reads an environment variable (``JOBCAST_*``, ``REDIS_URL``, through
Settings); a flag wins.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic import SecretStr

from ..errors import ConfigError
from ..redis.checks import check_credentials
from ..settings import Settings
from .embedded import EmbeddedRedis, RedisServer
from .ops import write_up_state
from .supervise import Child, Supervisor

log = logging.getLogger("jobcast")

DEMO_JOBS = "jobcast.demo:jobs"
FLAGS = {"jobs": "--jobs", "host": "--host", "port": "--port", "concurrency": "--concurrency",
         "worker_processes": "--processes"}


def load_settings(**overrides: Any) -> Settings:
    return Settings.load(overrides, FLAGS)


def jobs_option(f: Any) -> Any:
    f = click.option("--app-dir", default=".", show_default=True,
                     help="Put this directory on the import path first (as uvicorn does).")(f)
    return click.option("--jobs", metavar="MODULE:ATTR",
                        help="The job registry [JOBCAST_JOBS; default: the demo jobs].")(f)


def http_options(f: Any) -> Any:
    f = click.option("--port", type=int, help="Listen port [JOBCAST_PORT; default 8000].")(f)
    return click.option("--host", help="Listen address [JOBCAST_HOST; default 127.0.0.1].")(f)


def work_options(f: Any) -> Any:
    f = click.option("--processes", "worker_processes", type=int,
                     help="Worker processes [JOBCAST_WORKER_PROCESSES; default 1].")(f)
    return click.option("--concurrency", type=int,
                        help="Async and thread jobs at once per process [JOBCAST_CONCURRENCY; "
                             "default 50].")(f)


def _child_env(settings: Settings, app_dir: str, **extra: str) -> dict[str, str]:
    """The environment of a child process: the same settings, by their env names."""
    env = {**os.environ, **settings.to_env(), **extra}
    app = str(Path(app_dir).resolve())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (app, os.environ.get("PYTHONPATH")) if p)
    return env


# -- web -----------------------------------------------------------------------------------------

@click.command()
@jobs_option
@http_options
def web(jobs: str | None, app_dir: str, host: str | None, port: int | None) -> None:
    """The web process: HTTP API, Socket.IO, the bridge (needs REDIS_URL)."""
    import uvicorn

    from ..registry import load_jobs
    from ..web import create_app

    settings = load_settings(jobs=jobs, host=host, port=port)
    target = settings.redis_target("jobcast web")
    registry = load_jobs(settings.jobs, app_dir)
    asyncio.run(check_credentials(target))
    demo = settings.demo_page or settings.jobs == DEMO_JOBS
    app = create_app(registry, settings, demo_page=demo)
    server = uvicorn.Server(uvicorn.Config(
        app, host=settings.host, port=settings.port, loop="uvloop", http="httptools",
        ws="websockets-sansio",
        # Job events are tiny JSON: compressing each frame costs more CPU than it saves.
        ws_per_message_deflate=False,
        # Engine.IO pings every socket itself (and drops the silent ones): uvicorn's own
        # WebSocket ping would only add a timer and a frame per socket.
        ws_ping_interval=None,
        proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips,
        lifespan="on", access_log=False, log_level="warning", timeout_graceful_shutdown=5))
    try:
        server.run()
    except SystemExit:
        if server.started:
            raise
    if not server.started:  # e.g. the port is taken: uvicorn logged why, just above
        raise ConfigError(f"jobcast web could not listen on {settings.host}:{settings.port}")


# -- worker --------------------------------------------------------------------------------------

@click.command()
@jobs_option
@work_options
@click.option("--only", metavar="JOBS", help="Serve only these jobs' queues, e.g. 'report,bulk'.")
@click.option("--check", is_flag=True,
              help="Exit 0 if a worker on this host has a fresh heartbeat, else 1.")
def worker(jobs: str | None, app_dir: str, concurrency: int | None,
           worker_processes: int | None, only: str | None, check: bool) -> None:
    """A worker process that runs the jobs (needs REDIS_URL)."""
    settings = load_settings(jobs=jobs, concurrency=concurrency,
                             worker_processes=worker_processes)
    if check:
        from ..worker import check_heartbeat

        sys.exit(0 if asyncio.run(check_heartbeat(settings)) else 1)
    target = settings.redis_target("jobcast worker")
    if settings.worker_processes > 1:
        asyncio.run(check_credentials(target))
        extra = ["--only", only] if only else []
        argv = [sys.executable, "-m", "jobcast", "worker", "--processes", "1", *extra]
        children = [Child(f"worker {i + 1}", argv) for i in range(settings.worker_processes)]
        env, forget = _child_env(settings, app_dir), None
        if settings.metrics_port is not None:  # one port for all: prometheus' multiprocess mode
            env["PROMETHEUS_MULTIPROC_DIR"] = os.environ["PROMETHEUS_MULTIPROC_DIR"] = \
                tempfile.mkdtemp(prefix="jobcast-metrics-")
            _serve_metrics(settings)
            from prometheus_client import multiprocess

            forget = multiprocess.mark_process_dead
        try:
            sys.exit(Supervisor(children, env, stop_timeout=settings.shutdown_grace_s + 15,
                                on_exit=forget).run())
        finally:
            if "PROMETHEUS_MULTIPROC_DIR" in env:
                shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    if settings.metrics_port is not None and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _serve_metrics(settings)
    run_worker(settings, only, app_dir)


def _serve_metrics(settings: Settings) -> None:
    from ..metrics.worker import serve_worker_metrics

    assert settings.metrics_port is not None
    try:
        serve_worker_metrics(settings.metrics_port, settings.metrics_host)
    except OSError as err:
        raise ConfigError(f"JOBCAST_METRICS_PORT={settings.metrics_port}: cannot listen on "
                          f"{settings.metrics_host}:{settings.metrics_port} ({err.strerror})"
                          ) from None


def run_worker(settings: Settings, only: str | None, app_dir: str) -> None:
    import uvloop

    from ..registry import load_jobs
    from ..worker import JobWorker

    registry = load_jobs(settings.jobs, app_dir)
    asyncio.run(check_credentials(settings.redis_target("jobcast worker")))
    all_queues = list(registry.queues())
    if only:
        registry = registry.only([n.strip() for n in only.split(",") if n.strip()])
    if settings.jobs == DEMO_JOBS and not os.environ.get("JOBCAST_EMBEDDED_REDIS"):
        log.warning("serving the demo jobs (report, bulk) on %s: pass --jobs module:attr (or "
                    "JOBCAST_JOBS) for your application's jobs", settings.redis_target().where)
    reason = {"signal": "stopped"}

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _stopper(stop, reason, sig))
        await JobWorker(registry, settings, jobs_module=settings.jobs.partition(":")[0],
                        all_queues=all_queues).run(stop)

    uvloop.run(run())
    log.info("worker %s exiting: %s", os.getpid(), reason["signal"])


def _stopper(stop: asyncio.Event, reason: dict[str, str], sig: signal.Signals) -> Any:
    def on_signal() -> None:
        reason["signal"] = f"{sig.name} received"
        stop.set()

    return on_signal


# -- up ------------------------------------------------------------------------------------------

@click.command()
@jobs_option
@http_options
@work_options
def up(jobs: str | None, app_dir: str, host: str | None, port: int | None,
       concurrency: int | None, worker_processes: int | None) -> None:
    """Everything in one command: Redis (embedded, unless REDIS_URL), web and worker."""
    _up(load_settings(jobs=jobs, host=host, port=port, concurrency=concurrency,
                      worker_processes=worker_processes), app_dir, reload=False)


@click.command()
@jobs_option
@http_options
@work_options
def dev(jobs: str | None, app_dir: str, host: str | None, port: int | None,
        concurrency: int | None, worker_processes: int | None) -> None:
    """`up` that restarts the web and the worker when a Python file of the app changes."""
    _up(load_settings(jobs=jobs, host=host, port=port, concurrency=concurrency,
                      worker_processes=worker_processes), app_dir, reload=True)


def _up(settings: Settings, app_dir: str, reload: bool) -> None:
    redis: RedisServer | None = None
    extra = {}
    if not settings.redis_url:
        redis = EmbeddedRedis(settings.data_dir)
        settings = settings.model_copy(update={"redis_url": redis.start()})
        extra["JOBCAST_EMBEDDED_REDIS"] = "1"
        log.info("embedded redis-server on %s (data in %s)", settings.redis_url, redis.dir)
    if settings.jobs == DEMO_JOBS:
        settings = settings.model_copy(update={"demo_page": True})
    if settings.host in ("127.0.0.1", "localhost", "::1") and "JOBCAST_DASHBOARD" not in os.environ:
        settings = settings.model_copy(update={"dashboard": True})  # on this machine only
    if settings.dashboard and "JOBCAST_METRICS_DATA_POINTS" not in os.environ:
        # BullMQ's per-minute counts, an hour of them: the dashboard's throughput chart exact
        settings = settings.model_copy(update={"metrics_data_points": 60})
    if settings.watch_secret is None:  # watch tokens for this run (set one to keep them valid)
        settings = settings.model_copy(update={"watch_secret": SecretStr(secrets.token_urlsafe(32))})
    settings = settings.model_copy(update={"results_dir": settings.results_path.resolve()})
    address = f"http://{_connectable(settings.host)}:{settings.port}"
    python = [sys.executable, "-m", "jobcast"]

    def serving(process: subprocess.Popen[bytes]) -> bool:
        return _own_server(f"{address}/readyz", process.pid)

    children = [Child("web", [*python, "web", "--app-dir", app_dir], ready=serving),
                Child("worker", [*python, "worker", "--app-dir", app_dir])]
    dashboard = f", dashboard at {address}/dashboard/" if settings.dashboard else ""
    banner = f"jobcast is up: {address}/{dashboard} (Ctrl-C stops it)"
    if reload:
        banner += f"; restarting on changes under {Path(app_dir).resolve()}"
    supervisor = Supervisor(children, _child_env(settings, app_dir, **extra),
                            stop_timeout=settings.shutdown_grace_s + 15, banner=banner)
    state = write_up_state(settings, address)  # where `jobcast jobs` & co find this Redis
    watching = _watch_code(Path(app_dir), supervisor.restart) if reload else None
    try:
        code = supervisor.run()
    finally:
        if watching is not None:
            watching.set()
        state.unlink(missing_ok=True)
        if redis is not None:
            redis.stop()
    sys.exit(code)


def _watch_code(root: Path, changed: Callable[[], None]) -> threading.Event:
    """Call ``changed`` when a .py file under ``root`` changes (watchfiles, from uvicorn's
    standard extra); set the returned event to stop watching."""
    import watchfiles

    stop = threading.Event()

    def watch() -> None:
        for _ in watchfiles.watch(root, watch_filter=watchfiles.PythonFilter(),
                                  stop_event=stop, rust_timeout=500, yield_on_timeout=False):
            changed()

    threading.Thread(target=watch, name="jobcast-dev-watch", daemon=True).start()
    return stop


def _connectable(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _own_server(url: str, pid: int) -> bool:
    """True when the web answering on ``url`` is the process we started (not another server
    that already had the port)."""
    import json

    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return response.status == 200 and json.load(response).get("pid") == pid
    except (OSError, ValueError):
        return False


# -- redis ---------------------------------------------------------------------------------------

@click.command(hidden=True)
@click.option("--port", type=int, required=True)
@click.option("--dir", "folder", type=click.Path(path_type=Path), required=True)
@click.option("--no-persist", is_flag=True, help="No AOF (benchmarks).")
def redis(port: int, folder: Path, no_persist: bool) -> None:
    """A private redis-server in the foreground (deploy/run-local uses it)."""
    server = RedisServer(folder, port, persist=not no_persist)
    server.dir.mkdir(parents=True, exist_ok=True)
    os.execv(server.argv()[0], server.argv())

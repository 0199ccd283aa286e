"""The ``jobcast`` command: ``up`` (everything, one command), ``web`` and ``worker``.

Every option also reads an environment variable (``JOBCAST_*``, ``REDIS_URL``); a flag wins.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence

from .embedded import EmbeddedRedis
from .errors import JobcastError
from .processes import die_with_parent
from .settings import Settings

log = logging.getLogger("jobcast")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    try:
        settings = _settings(args)
        return int(args.command(args, settings) or 0)
    except JobcastError as err:
        print(f"jobcast: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobcast", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(required=True, metavar="{up,web,worker}")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--jobs", help="job registry 'module:attribute' (JOBCAST_JOBS; "
                                      "default: the demo jobs)")

    def http(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", help="listen address (JOBCAST_HOST, default 127.0.0.1)")
        p.add_argument("--port", type=int, help="listen port (JOBCAST_PORT, default 8000)")

    def work(p: argparse.ArgumentParser) -> None:
        p.add_argument("--concurrency", type=int, help="async jobs at once per process "
                                                       "(JOBCAST_CONCURRENCY, default 50)")
        p.add_argument("--processes", type=int, dest="worker_processes",
                       help="worker processes (JOBCAST_WORKER_PROCESSES, default 1)")

    up = sub.add_parser("up", help="embedded Redis (unless REDIS_URL) + web + worker")
    for add in (common, http, work):
        add(up)
    up.set_defaults(command=cmd_up)

    web = sub.add_parser("web", help="the web process: HTTP API, Socket.IO, the bridge")
    for add in (common, http):
        add(web)
    web.set_defaults(command=cmd_web)

    worker = sub.add_parser("worker", help="a worker process that runs the jobs")
    for add in (common, work):
        add(worker)
    worker.add_argument("--only", help="serve only these jobs' queues, e.g. 'report,bulk'")
    worker.add_argument("--check", action="store_true",
                        help="exit 0 if a worker on this host has a fresh heartbeat, else 1")
    worker.set_defaults(command=cmd_worker)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        name: getattr(args, name)
        for name in ("jobs", "host", "port", "concurrency", "worker_processes")
        if getattr(args, name, None) is not None
    }
    return Settings(**overrides)


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment for a child process: the same settings, by their env names."""
    env = dict(os.environ)
    env.update({
        "JOBCAST_JOBS": settings.jobs,
        "JOBCAST_CONCURRENCY": str(settings.concurrency),
        "JOBCAST_WORKER_PROCESSES": str(settings.worker_processes),
        "JOBCAST_HOST": settings.host,
        "JOBCAST_PORT": str(settings.port),
        **extra,
    })
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    return env


def _require_redis(settings: Settings, what: str) -> None:
    if not settings.redis_url:
        raise JobcastError(f"{what} needs REDIS_URL; `jobcast up` runs a private Redis instead")


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from .app import create_app

    _require_redis(settings, "jobcast web")
    app = create_app(settings=settings)
    uvicorn.run(app, host=settings.host, port=settings.port, loop="uvloop", http="httptools",
                ws="websockets-sansio",
                # Job events are tiny JSON: compressing each frame costs more CPU than it saves.
                ws_per_message_deflate=False,
                proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips,
                lifespan="on", access_log=False, log_level="warning",
                timeout_graceful_shutdown=5)
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    if args.check:
        from .worker import check_heartbeat

        return 0 if asyncio.run(check_heartbeat(settings)) else 1
    _require_redis(settings, "jobcast worker")
    if settings.worker_processes > 1:
        extra = ["--only", args.only] if args.only else []
        return _supervise(
            [[sys.executable, "-m", "jobcast", "worker", "--processes", "1", *extra]
             for _ in range(settings.worker_processes)],
            _env(settings),
        )
    return _run_worker(settings, args.only)


def _run_worker(settings: Settings, only: str | None) -> int:
    import uvloop

    from .registry import load_jobs
    from .worker import JobWorker

    jobs = load_jobs(settings.jobs)
    if only:
        jobs = jobs.only([n.strip() for n in only.split(",") if n.strip()])

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await JobWorker(jobs, settings, jobs_module=settings.jobs.partition(":")[0]).run(stop)

    uvloop.run(run())
    return 0


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    redis: EmbeddedRedis | None = None
    if not settings.redis_url:
        redis = EmbeddedRedis(settings.data_dir)
        settings = settings.model_copy(update={"redis_url": redis.start()})
        log.info("embedded redis-server on %s (data in %s)", settings.redis_url, redis.dir)
    env = _env(settings)
    if not os.environ.get("JOBCAST_RESULTS_DIR"):
        env["JOBCAST_RESULTS_DIR"] = str(settings.results_path.resolve())
    python = [sys.executable, "-m", "jobcast"]
    try:
        return _supervise(
            [[*python, "web"], [*python, "worker"]],
            env,
            ready_url=f"http://{_connectable(settings.host)}:{settings.port}/readyz",
            banner=f"jobcast is up: http://{_connectable(settings.host)}:{settings.port}/ "
                   "(Ctrl-C stops it)",
        )
    finally:
        if redis is not None:
            redis.stop()


def _connectable(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _supervise(
    commands: list[list[str]], env: dict[str, str], ready_url: str | None = None,
    banner: str | None = None,
) -> int:
    """Run the children until a signal or until one of them dies; then stop them all."""
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    children = [subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=die_with_parent)
                for cmd in commands]
    exit_code = 0
    try:
        announced = ready_url is None
        while not stopping:
            dead = [c for c in children if c.poll() is not None]
            if dead:
                log.error("%s exited with %s; stopping", dead[0].args, dead[0].returncode)
                exit_code = 1
                break
            if not announced and _ready(ready_url):
                announced = True
                print(banner, flush=True)
            time.sleep(0.1 if not announced else 0.5)
    finally:
        log.info("stopping")
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("stopped")
    return exit_code


def _ready(url: str | None) -> bool:
    if url is None:
        return True
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return bool(response.status == 200)
    except OSError:
        return False

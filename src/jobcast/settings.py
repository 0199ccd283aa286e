"""One Settings object, read from the environment (``REDIS_URL`` and ``JOBCAST_*``).

Every process (web, worker, ``jobcast up``) builds it once and passes it down explicitly;
nothing else in the package reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """jobcast's configuration. Each field is the env var ``JOBCAST_<NAME>`` unless noted."""

    model_config = SettingsConfigDict(env_prefix="JOBCAST_", extra="ignore")

    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "JOBCAST_REDIS_URL")
    )
    """Where the queues live. Unset: ``jobcast up`` starts a private redis-server."""

    jobs: str = "jobcast.demo:jobs"
    """The application's job registry, as ``module:attribute``."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)

    data_dir: Path = Path(".jobcast")
    """The embedded Redis's data and, by default, the result files."""
    results_dir: Path | None = None
    """Where jobs write result files (a shared volume when web and worker are apart)."""

    prefix: str = "bull"
    """BullMQ key prefix; bullmq's default so Node BullMQ tools see the same queues."""

    concurrency: int = Field(default=50, ge=1, le=10_000)
    """Jobs run at once per worker process, for async (I/O-bound) jobs."""
    cpu_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=512)
    """Child processes at once per worker process, for cpu_bound jobs."""
    worker_processes: int = Field(default=1, ge=1, le=256)
    """Worker processes started by ``jobcast worker`` / ``jobcast up``."""

    progress_interval_ms: int = Field(default=100, ge=0, le=60_000)
    """At most one progress update per job per interval reaches Redis and the browser."""
    lock_duration_ms: int = Field(default=30_000, ge=100)
    """A job's lock lasts this long and is renewed at half of it while the job runs."""
    stalled_interval_ms: int = Field(default=30_000, ge=100)
    """How often workers look for jobs whose lock expired (their worker died)."""
    max_stalled_count: int = Field(default=1, ge=0)
    shutdown_grace_s: float = Field(default=30.0, ge=0)
    """On SIGTERM, active jobs get this long to finish before they are handed back."""

    keep_completed: int = Field(default=1000, ge=0)
    keep_failed: int = Field(default=5000, ge=0)
    keep_age_s: int = Field(default=86_400, ge=1)
    """Finished jobs are kept at most this long (and at most keep_* of them)."""
    result_ttl_s: int = Field(default=86_400, ge=1)
    """Result files are deleted after this long."""
    max_events: int = Field(default=10_000, ge=100)
    """Each queue's event stream is trimmed to about this many entries."""

    max_body_bytes: int = Field(default=1 << 20, ge=1)
    rooms_per_socket: int = Field(default=100, ge=1)
    enqueue_rate: str = Field(default="0", pattern=r"^(0|\d+/(second|minute|hour))$")
    """Enqueue limit per client address, e.g. "30/minute"; "0" (the default) is no limit."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose X-Forwarded-For/-Proto the web trusts (comma-separated, or "*"): behind
    nginx in Docker, its address, so rate limits and origins see the real client."""
    allowed_origins: str = ""
    """Comma-separated browser origins allowed besides the web's own, for Socket.IO and the HTTP
    API (CORS); empty means same origin only."""

    @property
    def results_path(self) -> Path:
        return self.results_dir or self.data_dir / "results"

    @property
    def origins(self) -> list[str]:
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]

"""One Settings object, read from the environment (``REDIS_URL`` and ``JOBCAST_*``).

Every process (web, worker, ``jobcast up``) builds it once with ``Settings.load()`` and passes
it down explicitly; nothing else in the package reads the environment. A value that does not
parse is one line naming the variable and the form it takes, never a traceback.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ._bullmq.keys import QueueKeys
from .errors import ConfigError
from .redis.url import RedisTarget, parse_redis_url

_WINDOWS = {"second": 1, "minute": 60, "hour": 3600}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(second|minute|hour)\s*")


class RateLimit(NamedTuple):
    """At most ``limit`` per ``window_s`` seconds; ``limit == 0`` is no limit."""

    limit: int
    window_s: int

    def __str__(self) -> str:
        if not self.limit:
            return "0"
        unit = next(name for name, size in _WINDOWS.items() if size == self.window_s)
        return f"{self.limit}/{unit}"


def _rate(value: Any) -> Any:
    if isinstance(value, RateLimit):
        return value
    text = str(value).strip()
    if text == "0":
        return RateLimit(0, 60)
    match = _RATE.fullmatch(text)
    if not match:
        raise ValueError("expected 0 (no limit) or N/second, N/minute or N/hour, e.g. 30/minute")
    return RateLimit(int(match[1]), _WINDOWS[match[2]])


class Settings(BaseSettings):
    """jobcast's configuration. Each field is the env var ``JOBCAST_<NAME>`` unless noted."""

    model_config = SettingsConfigDict(env_prefix="JOBCAST_", extra="ignore",
                                      validate_default=True)

    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "JOBCAST_REDIS_URL")
    )
    """Where the queues live (``REDIS_URL``): ``redis://``, ``rediss://``, ``unix://``, or
    ``redis+cluster://host:port,...`` for a Redis Cluster (docs/scaling.md). Unset:
    ``jobcast up`` starts a private one."""

    redis_ca: str | None = None
    """The CA certificate (a PEM file) for a ``rediss://`` URL that does not name one."""

    jobs: str = "jobcast.demo:jobs"
    """The application's job registry, as ``module:attribute``."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)

    data_dir: Path = Path(".jobcast")
    """The embedded Redis's data and, by default, the result files."""
    results_dir: Path | None = None
    """Where jobs write result files (a shared volume when web and worker are apart)."""

    prefix: str = Field(default="bull", min_length=1)
    """BullMQ key prefix; bullmq's default so Node BullMQ tools see the same queues."""

    concurrency: int = Field(default=50, ge=1, le=10_000)
    """Jobs run at once per worker process, for async and thread (plain def) jobs."""
    cpu_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=512)
    """Child processes at once per worker process, for cpu_bound jobs."""
    worker_processes: int = Field(default=1, ge=1, le=256)
    """Worker processes started by ``jobcast worker`` / ``jobcast up``."""

    progress_interval_ms: int = Field(default=100, ge=0, le=60_000)
    """At most one progress update per job per interval reaches Redis and the browser."""
    output_interval_ms: int = Field(default=50, ge=0, le=10_000)
    """A job's output and log lines are written in batches at most this far apart."""
    output_max_bytes: int = Field(default=10 << 20, ge=1)
    """A job's output (and, apart, its log) is bounded to this many bytes..."""
    output_max_entries: int = Field(default=100_000, ge=1)
    """...and to this many entries (a batch of writes is one entry)."""
    output_overflow: Literal["truncate", "fail"] = "truncate"
    """Past the bound: "truncate" keeps what fits and adds a marker; "fail" fails the job."""
    lock_duration_ms: int = Field(default=30_000, ge=100)
    """A job's lock lasts this long and is renewed at half of it while the job runs."""
    stalled_interval_ms: int = Field(default=30_000, ge=100)
    """How often workers look for jobs whose lock expired (their worker died)."""
    max_stalled_count: int = Field(default=1, ge=0)
    """How often a job may stall before it fails instead of running again."""
    shutdown_grace_s: float = Field(default=30.0, ge=0)
    """On SIGTERM, active jobs get this long to finish before they are handed back."""

    keep_completed: int = Field(default=1000, ge=0)
    keep_failed: int = Field(default=5000, ge=0)
    keep_age_s: int = Field(default=86_400, ge=1)
    """Finished jobs are kept at most this long (and at most keep_* of them)."""
    result_ttl_s: int = Field(default=86_400, ge=1)
    """Result files are deleted after this long."""
    metrics_data_points: int = Field(default=0, ge=0, le=100_000)
    """Keep per-minute counts of completed and failed jobs for this many minutes (BullMQ's
    worker ``metrics`` option, which Bull Board charts); 0 is off, as in BullMQ."""
    max_events: int = Field(default=10_000, ge=100)
    """Each queue's event stream is trimmed to about this many entries."""

    max_result_bytes: int = Field(default=1 << 20, ge=16)
    """A handler's result larger than this (as JSON) fails the job instead of filling Redis."""
    max_body_bytes: int = Field(default=1 << 20, ge=1)
    max_batch: int = Field(default=1000, ge=1, le=100_000)
    """Most items in one ``POST /api/<job>/batch``."""
    rooms_per_socket: int = Field(default=100, ge=1)
    enqueue_rate: Annotated[RateLimit, NoDecode, BeforeValidator(_rate)] = RateLimit(0, 60)
    """Enqueue limit per client address, e.g. "30/minute"; "0" (the default) is no limit."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose X-Forwarded-For/-Proto the web trusts (comma-separated, or "*")."""
    allowed_origins: str = ""
    """Comma-separated browser origins allowed besides the web's own, for Socket.IO and the HTTP
    API (CORS); empty means same origin only."""
    watch_secret: SecretStr | None = None
    """Signs watch tokens (``watchToken`` in the enqueue answer: watch one job, read-only);
    comma-separated to rotate ("new,old": new tokens from the first, all accepted); unset, no
    tokens. ``jobcast up`` makes one up for its run."""
    watch_token_ttl_s: int = Field(default=86_400, ge=1)
    """A watch token is good for this long."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """How much the processes log; "info" has a line per finished job."""
    metrics_port: int | None = Field(default=None, ge=1, le=65_535)
    """Workers serve their Prometheus metrics on this port (unset: not counted)."""
    metrics_host: str = "127.0.0.1"
    """Where the workers' metrics port listens ("0.0.0.0" in a container)."""
    metrics_token: SecretStr | None = None
    """The web's ``/metrics`` wants ``Authorization: Bearer <this>``; unset, only loopback
    clients may scrape it."""
    dashboard: bool = False
    """Serve the dashboard at ``/dashboard`` (off unless enabled; ``jobcast up`` turns it on when
    it listens on loopback only)."""
    dashboard_token: SecretStr | None = None
    """Required by the dashboard (``Authorization: Bearer``, or its login form, which keeps a
    signed HttpOnly SameSite=Strict session cookie) unless the application's ``authorize`` hook
    lets the request in (actions "dashboard" and "dashboard-action"); with neither a token nor
    that hook, only loopback clients get in. Use a long random value."""
    dashboard_read_only: bool = False
    """The dashboard shows, and changes nothing (every action answers 403, whoever asks)."""
    demo_page: bool = False
    """Serve the demo page at ``/`` (``jobcast up`` and ``jobcast web`` turn it on for the demo
    jobs; an application's own app leaves it off)."""

    @field_validator("watch_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if any(len(part) < 16 for part in _parts(value.get_secret_value())):
            raise ValueError("each secret needs at least 16 characters")
        return value

    @property
    def watch_secrets(self) -> list[str]:
        return _parts(self.watch_secret.get_secret_value()) if self.watch_secret else []

    @field_validator("redis_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parse_redis_url(value)  # raises ValueError with the accepted forms
        return value

    @classmethod
    def load(cls, overrides: dict[str, Any] | None = None,
             names: dict[str, str] | None = None) -> Settings:
        """The settings from the environment plus ``overrides`` (CLI flags, named in ``names``
        for error messages); a bad value raises ConfigError naming the variable or flag."""
        overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        try:
            return cls(**overrides)
        except ValidationError as err:
            first = err.errors(include_url=False)[0]
            field = str(first["loc"][0]) if first["loc"] else ""
            name = (names or {}).get(field) if field in overrides else None
            where = name or (field if field.isupper() else env_name(field))  # an alias
            given = first.get("input")
            message = str(first["msg"]).removeprefix("Value error, ")
            raise ConfigError(f"{where}={given!r}: {message[:1].lower()}{message[1:]}") from None

    @property
    def results_path(self) -> Path:
        return self.results_dir or self.data_dir / "results"

    @property
    def origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip()]

    def require_redis(self, what: str) -> str:
        """The Redis URL, or the one error every process gives when there is none."""
        if not self.redis_url:
            raise ConfigError(f"{what} needs REDIS_URL (e.g. redis://127.0.0.1:6379/0); "
                              "`jobcast up` runs a private Redis instead")
        return self.redis_url

    def redis_target(self, what: str = "jobcast") -> RedisTarget:
        """Where Redis is, read once for every client (see redis/url.py)."""
        return parse_redis_url(self.require_redis(what), self.redis_ca)

    @property
    def cluster(self) -> bool:
        """Whether REDIS_URL names a Redis Cluster (``redis+cluster://``)."""
        return bool(self.redis_url) and self.redis_target().cluster

    def queue_keys(self, queue: str) -> QueueKeys:
        """A queue's BullMQ keys; on a cluster the queue is a hash tag (see _bullmq/keys.py)."""
        return QueueKeys(self.prefix, queue, tagged=self.cluster)

    def to_env(self) -> dict[str, str]:
        """These settings as environment variables, for the child processes of a supervisor."""
        env: dict[str, str] = {}
        for field in type(self).model_fields:
            value = getattr(self, field)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[env_name(field)] = str(value).lower() if isinstance(value, bool) else str(value)
        return env


def _parts(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def env_name(field: str) -> str:
    """The environment variable of a settings field: ``port`` → ``JOBCAST_PORT``."""
    return "REDIS_URL" if field == "redis_url" else f"JOBCAST_{field.upper()}"

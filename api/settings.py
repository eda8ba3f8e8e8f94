"""The service's settings: every ``MENTORMATCH_*`` environment variable, read here only.

A process reads its environment once, :meth:`Settings.from_env`, and passes the
values down: ``create_app`` (then keeps them in :class:`api.app.State`), the
``mentormatch`` command and ``mentormatch serve``. ``create_app(config)`` applies
its dict on top with :meth:`Settings.with_overrides`. A bad value fails at start-up
with a :class:`SettingsError` naming every bad variable and what it expects.

No Flask here: the CLI and the worker use this module too.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from models.db import DEFAULT_SQLITE_PATH, default_sqlite_url, normalize_url

PREFIX = "MENTORMATCH_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
MIN_AUDIT_KEY = 32
MIN_METRICS_TOKEN = 16
_SECRET = frozenset({"audit_key", "metrics_token"})  # never echoed in an error message


class SettingsError(ValueError):
    """Some settings have values they cannot take.

    ``errors`` maps each bad variable (``MENTORMATCH_RUN_LEASE_SECONDS``, or the
    override key) to what was expected and what it got.
    """

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(
            "invalid settings: " + "; ".join(f"{k}: {v}" for k, v in self.errors.items())
        )


@dataclass(frozen=True)
class Settings:
    """Typed settings; the field ``x_y`` is the variable ``MENTORMATCH_X_Y``.

    Build it with :meth:`from_env`, which validates; the defaults here are the
    documented ones (README, "Configuration").
    """

    database_url: str = field(default_factory=default_sqlite_url)
    redis_url: str | None = None
    jobs_path: Path | None = None
    queue_name: str = "mentormatch"
    jobs_immediate: bool = False
    run_lease_seconds: float = 120.0
    no_worker: bool = False
    max_content_length: int = 16 * 1024 * 1024
    web_workers: int = 2
    web_threads: int = 4
    job_workers: int = 1
    log_level: str = "INFO"
    retention_days: int = 30
    # The audit chain's HMAC key. Unset: the embedded default (SQLite) generates one
    # into instance/ on first start; PostgreSQL (production) refuses to start.
    audit_key: str | None = field(default=None, repr=False)
    # Origins (``https://dash.example.org``) whose pages may call the API from a browser;
    # None: no cross-origin caller at all (no Access-Control-* header is ever sent).
    cors_origins: tuple[str, ...] | None = None
    # The workers (api/services/runs/queue.py): how many runs of one organization may
    # run at once (its others wait queued, holding no worker), and how often each worker
    # process sweeps (fails runs past their lease, queues again runs whose job was lost).
    org_concurrency: int = 1
    sweep_seconds: float = 30.0
    # Observability (README, "Deployment"). ``mentormatch serve`` exports metrics_dir to
    # its processes as PROMETHEUS_MULTIPROC_DIR: /metrics then sums every web worker's
    # and the companion worker's numbers. None: one process's numbers (the embedded default).
    metrics_dir: Path | None = None
    # A bearer token /metrics asks for; None: /metrics is open, like /v1/health.
    metrics_token: str | None = field(default=None, repr=False)
    # gunicorn's own access log (JSON, with the client address and bytes sent), beside
    # the application's request line that is always written.
    gunicorn_access_log: bool = False
    # Rate limits and readiness (api/limits.py, api/views/health.py). Limits are
    # Flask-Limiter strings ("120/minute", "10/second;300/hour"), counted per
    # organization (the API key's; the client address without one). The expensive
    # reads (recommendations, compare, report, export) each have their own count;
    # every route also counts toward the default. Storage: a limits URL (memory://,
    # redis://...); unset: redis_url, else memory (one count per process).
    rate_limit_expensive: str = "120/minute"
    rate_limit_default: str = "20000/minute"
    # Well-formed API keys one client address may have refused (401) before it waits:
    # a key sprayer costs a database lookup each, and is then refused from memory.
    rate_limit_refused_keys: str = "60/minute"
    rate_limit_storage: str | None = None
    # A client refused for asking again before its Retry-After ended has its connection's
    # next request read no sooner than this many seconds later (api/held.py); 0: never.
    # 0 behind a load balancer that pools its connections to the API across clients.
    refusal_hold_seconds: float = 1.0
    # /v1/ready answers 503 when no worker heartbeat is this recent (a worker beats
    # every 15 seconds, api/services/runs/queue.py).
    ready_heartbeat_seconds: float = 60.0
    # The CPU priority (a nice value, 0 normal to 19 lowest) a worker process and the
    # process workers it forks run at, ``serve``'s companion worker included: on a
    # machine shared with API processes the web requests get the CPU first.
    worker_nice: int = 10
    # A port each ``mentormatch worker`` serves its own Prometheus metrics on (all
    # interfaces, path /metrics): the run phases of the runs it executed, for a worker
    # on a machine of its own. None: no such port.
    worker_metrics_port: int | None = None
    # Each API process keeps encoded cohorts for recommendations (api/services/
    # cohort_cache.py): at most this many MiB of their arrays; 0 keeps none.
    cohort_cache_mb: int = 256

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings ``environ`` (default: ``os.environ``) gives; unset or empty means default.

        Variables with the prefix that are not settings are ignored (the test suite's
        ``MENTORMATCH_TEST_*``, for one).
        """
        environ = os.environ if environ is None else environ
        given = {
            PREFIX + name.upper(): (name, value)
            for name in _PARSERS
            if (value := environ.get(PREFIX + name.upper(), "").strip())
        }
        return cls()._replaced(given)

    def with_overrides(self, overrides: Mapping[str, object]) -> Settings:
        """A copy with ``overrides`` applied, keyed like ``create_app``'s config (``"LOG_LEVEL"``).

        A value is a string, parsed as the variable would be, or already typed
        (``{"MAX_CONTENT_LENGTH": 2000}``); ``None`` clears ``REDIS_URL`` or ``JOBS_PATH``.
        """
        unknown = [key for key in overrides if key not in OVERRIDE_KEYS]
        if unknown:
            expected = ", ".join(sorted(OVERRIDE_KEYS))
            raise SettingsError(
                {key: f"not a setting; expected one of {expected}" for key in unknown}
            )
        return self._replaced({key: (key.lower(), value) for key, value in overrides.items()})

    def _replaced(self, values: Mapping[str, tuple[str, object]]) -> Settings:
        parsed: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for label, (name, value) in values.items():
            try:
                parsed[name] = _PARSERS[name](value)
            except ValueError as exc:
                shown = f"{len(str(value))} characters" if name in _SECRET else repr(value)
                errors[label] = f"{exc}, got {shown}"
        if errors:
            raise SettingsError(errors)
        return dataclasses.replace(self, **parsed)

    @property
    def audit_key_file(self) -> Path:
        """Where the embedded default keeps its generated audit key: next to the SQLite
        database (``instance/mentormatch-audit.key`` by default)."""
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return Path(url.database).with_name("mentormatch-audit.key")
        return DEFAULT_SQLITE_PATH.resolve().with_name("mentormatch-audit.key")

    def audit_secret(self) -> bytes:
        """The audit chain's HMAC key: ``MENTORMATCH_AUDIT_KEY``; else, on SQLite, the key
        generated on first start into :attr:`audit_key_file` (mode 0600), read back on
        later starts. A PostgreSQL database without the variable is a SettingsError:
        a production chain is never keyed with something left lying next to it."""
        if self.audit_key is not None:
            return self.audit_key.encode()
        if make_url(self.database_url).get_backend_name() != "sqlite":
            raise SettingsError(
                {
                    PREFIX + "AUDIT_KEY": "required with a PostgreSQL database (a secret of "
                    "32 or more characters, e.g. `openssl rand -hex 32`), got nothing"
                }
            )
        path = self.audit_key_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:  # O_EXCL: of two processes starting at once, one writes and both read it
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_hex(32))
        secret = path.read_text().strip()
        if len(secret) < MIN_AUDIT_KEY:
            raise SettingsError(
                {str(path): f"expected an audit key of {MIN_AUDIT_KEY}+ characters"}
            )
        return secret.encode()

    @property
    def jobs_file(self) -> Path:
        """The SQLite queue's file: ``jobs_path``, else next to the SQLite database.

        With PostgreSQL (or an in-memory database) and no ``jobs_path``, it is
        ``instance/mentormatch-jobs.sqlite3``.
        """
        if self.jobs_path is not None:
            return self.jobs_path
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            db = Path(url.database)
            return db.with_name(f"{db.stem}-jobs.sqlite3")
        return DEFAULT_SQLITE_PATH.resolve().with_name("mentormatch-jobs.sqlite3")


Parser = Callable[[object], Any]


def _whole(value: object) -> int | None:
    """``value`` as a whole number (a string of one, or an int that is not a bool), else None."""
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _integer(minimum: int, unit: str) -> Parser:
    def parse(value: object) -> int:
        number = _whole(value)
        if number is None or number < minimum:
            raise ValueError(f"expected a whole number of {unit} >= {minimum}")
        return number

    return parse


def _port(value: object) -> int:
    number = _whole(value)
    if number is None or not 1 <= number <= 65535:
        raise ValueError("expected a TCP port, a whole number from 1 to 65535")
    return number


def _nice(value: object) -> int:
    number = _whole(value)
    if number is None or not 0 <= number <= 19:
        raise ValueError("expected a nice value, a whole number from 0 (normal) to 19 (lowest)")
    return number


def _float(value: object) -> float | None:
    """A number (text or a Python number, not a bool), or None."""
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _seconds(value: object) -> float:
    number = _float(value)
    if number is None or not 0 < number < float("inf"):
        raise ValueError("expected a number of seconds > 0")
    return number


def _seconds_or_none(value: object) -> float:
    """A number of seconds >= 0, 0 meaning none."""
    number = _float(value)
    if number is None or not 0 <= number < float("inf"):
        raise ValueError("expected a number of seconds >= 0 (0: none)")
    return number


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _TRUE:
        return True
    if text in _FALSE or text == "":
        return False
    raise ValueError(f"expected one of {', '.join(_TRUE + _FALSE)}")


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty name")
    return value.strip()


def _log_level(value: object) -> str:
    level = value.strip().upper() if isinstance(value, str) else None
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return level


def _audit_key(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value.strip()) < MIN_AUDIT_KEY:
        raise ValueError(f"expected a secret of at least {MIN_AUDIT_KEY} characters")
    return value.strip()


def _token(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value.strip()) < MIN_METRICS_TOKEN:
        raise ValueError(f"expected a token of at least {MIN_METRICS_TOKEN} characters")
    return value.strip()


_ORIGIN = re.compile(r"https?://[^/\s?#,]+")


def _origins(value: object) -> tuple[str, ...] | None:
    """``https://a.example, http://localhost:3000`` -> a tuple; each an origin, no path."""
    if value is None or value == "":
        return None
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("expected comma-separated origins")
    origins = tuple(str(item).strip().rstrip("/") for item in items if str(item).strip())
    bad = [origin for origin in origins if not _ORIGIN.fullmatch(origin)]
    if bad:
        raise ValueError(
            f"expected comma-separated origins like https://dash.example.org "
            f"(scheme and host, no path), not {', '.join(bad)}"
        )
    return origins or None


def _database_url(value: object) -> str:
    expected = "expected a database URL (sqlite:///path or postgresql://user@host/db)"
    if not isinstance(value, str) or not value.strip():
        raise ValueError(expected)
    url = normalize_url(value.strip())
    try:
        make_url(url)
    except ArgumentError:
        raise ValueError(expected) from None
    return url


def _redis_url(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.strip().startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    return value.strip()


def _path(value: object) -> Path | None:
    if value is None or value == "":
        return None
    if isinstance(value, Path):
        return value
    if isinstance(value, str):
        return Path(value.strip())
    raise ValueError("expected a file path")


def _rate_limits(value: object) -> str:
    expected = "expected rate limits like 120/minute or 10/second;300/hour"
    if not isinstance(value, str) or not value.strip():
        raise ValueError(expected)
    from limits import parse_many  # here: the package takes 0.3 s to import, rarely needed

    try:
        parse_many(value.strip())
    except ValueError:
        raise ValueError(expected) from None
    return value.strip()


def _limits_storage(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.strip().startswith(
        ("memory://", "redis://", "rediss://", "unix://")
    ):
        raise ValueError("expected a memory://, redis://, rediss:// or unix:// URL")
    return value.strip()


_PARSERS: dict[str, Parser] = {
    "database_url": _database_url,
    "redis_url": _redis_url,
    "jobs_path": _path,
    "queue_name": _name,
    "jobs_immediate": _flag,
    "run_lease_seconds": _seconds,
    "no_worker": _flag,
    "max_content_length": _integer(1, "bytes"),
    "web_workers": _integer(1, "processes"),
    "web_threads": _integer(1, "threads"),
    "job_workers": _integer(1, "runs"),
    "log_level": _log_level,
    "retention_days": _integer(1, "days"),
    "audit_key": _audit_key,
    "cors_origins": _origins,
    "org_concurrency": _integer(1, "runs"),
    "sweep_seconds": _seconds,
    "metrics_dir": _path,
    "metrics_token": _token,
    "gunicorn_access_log": _flag,
    "rate_limit_expensive": _rate_limits,
    "rate_limit_default": _rate_limits,
    "rate_limit_refused_keys": _rate_limits,
    "rate_limit_storage": _limits_storage,
    "refusal_hold_seconds": _seconds_or_none,
    "ready_heartbeat_seconds": _seconds,
    "worker_nice": _nice,
    "worker_metrics_port": _port,
    "cohort_cache_mb": _integer(0, "MiB"),
}
#: The keys ``create_app(config)`` treats as settings; the rest are Flask's.
OVERRIDE_KEYS = frozenset(name.upper() for name in _PARSERS)

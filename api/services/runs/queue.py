"""Background jobs on Huey: matching runs execute on a worker, not in the request.

Storage follows the deployment (DESIGN section 7):

* ``MENTORMATCH_REDIS_URL`` set: :class:`huey.RedisHuey`; run any number of
  ``mentormatch worker`` processes next to the API.
* otherwise :class:`huey.SqliteHuey`, in a file next to the SQLite database
  (``instance/mentormatch-jobs.sqlite3`` by default; ``MENTORMATCH_JOBS_PATH``
  overrides it), consumed by the worker that ``mentormatch serve`` starts itself.
* ``MENTORMATCH_JOBS_IMMEDIATE``: tasks run inline when queued (tests, debugging).

Nothing is built at import time: :func:`build_jobs` makes a Huey instance and
registers its tasks on it; :func:`jobs_from_env` caches the one a process uses.
The task only calls :func:`api.services.runs.execution.execute_run`; the run's state
lives in the database, so Huey keeps no results.
"""

from __future__ import annotations

import functools
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey, crontab
from sqlalchemy.orm import Session

from api.services.runs.execution import execute_run, expire_stale_runs
from models import DEFAULT_SQLITE_PATH, default_database_url, make_engine, make_session_factory

log = logging.getLogger("mentormatch.jobs")

QUEUE_NAME = "mentormatch"
_TRUE = {"1", "true", "yes", "on"}


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() in _TRUE


def jobs_path(database_url: str | None = None) -> Path:
    """The SQLite queue file: next to the SQLite database, else under ``instance/``."""
    url = database_url or default_database_url()
    if url.startswith("sqlite") and "///" in url:
        db = Path(url.split("///", 1)[1])
        if str(db) not in ("", ":memory:"):
            return db.with_name(f"{db.stem}-jobs.sqlite3")
    return DEFAULT_SQLITE_PATH.resolve().with_name("mentormatch-jobs.sqlite3")


@dataclass
class Jobs:
    """A Huey instance with the service's tasks registered on it."""

    huey: Huey
    _execute: Any
    _session_factory: Callable[[], Callable[[], Session]]

    @property
    def backend(self) -> str:
        return "redis" if isinstance(self.huey, RedisHuey) else "sqlite"

    def enqueue_run(self, run_id: uuid.UUID) -> None:
        """Queue the run for a worker (or, in immediate mode, execute it now)."""
        self._execute(str(run_id))

    def expire_stale(self) -> list[uuid.UUID]:
        with self._session_factory()() as session:
            expired = expire_stale_runs(session)
            session.commit()
        for run_id in expired:
            log.warning("run failed: worker lost", extra={"run_id": str(run_id)})
        return expired


def build_jobs(
    *,
    redis_url: str | None = None,
    path: str | Path | None = None,
    name: str = QUEUE_NAME,
    immediate: bool = False,
    session_factory: Callable[[], Session] | None = None,
) -> Jobs:
    """A Huey instance (Redis if ``redis_url``, else SQLite at ``path``) with its tasks.

    ``session_factory`` is the database the tasks use; by default the one
    ``MENTORMATCH_DATABASE_URL`` names, built when the first task runs.
    """
    huey: Huey
    if redis_url:
        huey = RedisHuey(name, url=redis_url, results=False, immediate=immediate)
    else:
        file = Path(path) if path else jobs_path()
        file.parent.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey(name, filename=str(file), results=False, immediate=immediate, timeout=30)

    def sessions() -> Callable[[], Session]:
        return session_factory or _env_session_factory()

    @huey.task(name="execute_run")
    def execute_run_task(run_id: str) -> str:
        return execute_run(sessions(), uuid.UUID(run_id))

    jobs = Jobs(huey, execute_run_task, sessions)

    @huey.periodic_task(crontab(minute="*"), name="expire_stale_runs")
    def expire_stale_runs_task() -> None:
        jobs.expire_stale()

    return jobs


@functools.cache
def _env_session_factory() -> Callable[[], Session]:
    return make_session_factory(make_engine())


def settings_from(config: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`build_jobs` keywords from ``MENTORMATCH_*`` settings (env, or a Flask config)."""
    return {
        "redis_url": config.get("REDIS_URL") or None,
        "path": config.get("JOBS_PATH") or jobs_path(config.get("DATABASE_URL") or None),
        "name": config.get("QUEUE_NAME") or QUEUE_NAME,
        "immediate": _flag(config.get("JOBS_IMMEDIATE", False)),
    }


def env_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    environ = os.environ if environ is None else environ
    prefix = "MENTORMATCH_"
    return settings_from({k[len(prefix) :]: v for k, v in environ.items() if k.startswith(prefix)})


@functools.cache
def jobs_from_env() -> Jobs:
    """This process's jobs, configured from the environment (built once)."""
    return build_jobs(**env_settings())


def run_worker(*, workers: int = 1, worker_type: str = "thread", jobs: Jobs | None = None) -> None:
    """Consume the queue until stopped (SIGTERM: now; SIGINT: after the running tasks)."""
    jobs = jobs or jobs_from_env()
    jobs.expire_stale()  # runs a dead worker left behind fail now, not a minute from now
    # Forked worker processes must not share the parent's pooled connections.
    bind = getattr(jobs._session_factory(), "kw", {}).get("bind")
    if bind is not None:
        bind.dispose()
    options: dict[str, Any] = {
        "workers": workers,
        "worker_type": worker_type,
        "periodic": True,
        "check_worker_health": True,
    }
    if jobs.backend == "sqlite":
        # SQLite is polled: keep the idle poll short so a pressed button starts at once.
        options.update(initial_delay=0.05, backoff=1.5, max_delay=0.5)
    log.info("worker starting", extra={"backend": jobs.backend, "workers": workers})
    jobs.huey.create_consumer(**options).run()

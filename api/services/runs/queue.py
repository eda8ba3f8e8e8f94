"""Background jobs on Huey: matching runs execute on a worker, not in the request.

Storage follows the deployment (DESIGN section 7), as :class:`api.settings.Settings` says:

* ``redis_url`` set: :class:`huey.RedisHuey`; run any number of
  ``mentormatch worker`` processes next to the API.
* otherwise :class:`huey.SqliteHuey`, in ``settings.jobs_file`` (next to the SQLite
  database by default), consumed by the worker that ``mentormatch serve`` starts itself.
* ``jobs_immediate``: tasks run inline when queued (tests, debugging).

Nothing is built at import time: :func:`build_jobs` makes a Huey instance and
registers its tasks on it; ``create_app`` and ``mentormatch worker`` call it once.
The task only calls :func:`api.services.runs.execution.execute_run` (with the
settings' run lease); the run's state lives in the database, so Huey keeps no results.
Other services hand the worker their daily maintenance as :class:`DailyTask` values
(``build_jobs(..., daily=[...])``), so this module imports none of them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey, crontab
from sqlalchemy.orm import Session, sessionmaker

from api.services.export_jobs import register_export_tasks
from api.services.runs.execution import execute_run, expire_stale_runs
from api.settings import Settings
from models.tenant_guard import required_factory

log = logging.getLogger("mentormatch.jobs")


@dataclass
class Jobs:
    """A Huey instance with the service's tasks registered on it."""

    huey: Huey
    _execute: Callable[[str], object]
    session_factory: Callable[[], Session]
    #: Queues an organization export (:mod:`api.services.export_jobs`).
    enqueue_export: Callable[[uuid.UUID], None]

    @property
    def backend(self) -> str:
        return "redis" if isinstance(self.huey, RedisHuey) else "sqlite"

    def enqueue_run(self, run_id: uuid.UUID) -> None:
        """Queue the run for a worker (or, in immediate mode, execute it now)."""
        self._execute(str(run_id))

    def expire_stale(self) -> list[uuid.UUID]:
        with self.session_factory() as session:
            expired = expire_stale_runs(session)
            session.commit()
        for run_id in expired:
            log.warning("run failed: worker lost", extra={"run_id": str(run_id)})
        return expired


@dataclass(frozen=True)
class DailyTask:
    """Maintenance the worker runs once a day: ``run(session_factory)``."""

    name: str
    run: Callable[[Callable[[], Session]], object]


#: When daily tasks run (UTC): off the hour, when dashboards are quiet.
DAILY_AT = {"hour": "3", "minute": "17"}


def build_jobs(
    settings: Settings,
    session_factory: Callable[[], Session],
    *,
    daily: Sequence[DailyTask] = (),
) -> Jobs:
    """A Huey instance (Redis if ``settings.redis_url``, else SQLite) with its tasks.

    ``session_factory`` is the database the tasks use; each run is executed under
    ``settings.run_lease_seconds``. Each of ``daily`` becomes a periodic task of that
    name, run by a worker at :data:`DAILY_AT`.
    """
    huey: Huey
    name, immediate = settings.queue_name, settings.jobs_immediate
    if settings.redis_url:
        huey = RedisHuey(name, url=settings.redis_url, results=False, immediate=immediate)
    else:
        file = settings.jobs_file
        file.parent.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey(name, filename=str(file), results=False, immediate=immediate, timeout=30)
    lease = settings.run_lease_seconds
    # A task's sessions refuse tenant queries until the task scopes them to its run's or
    # export's organization, or opts out for maintenance (models.tenant_guard).
    task_sessions = required_factory(session_factory)

    # Huey ships no type hints: its decorators are untyped (the tasks' own types hold).
    @huey.task(name="execute_run")  # type: ignore[untyped-decorator]
    def execute_run_task(run_id: str) -> str:
        return execute_run(task_sessions, uuid.UUID(run_id), lease=lease)

    jobs = Jobs(huey, execute_run_task, session_factory, register_export_tasks(huey, task_sessions))

    every_minute = crontab(minute="*")

    @huey.periodic_task(every_minute, name="expire_stale_runs")  # type: ignore[untyped-decorator]
    def expire_stale_runs_task() -> None:
        jobs.expire_stale()

    for task in daily:
        _register_daily(huey, task, task_sessions)
    return jobs


def _register_daily(huey: Huey, task: DailyTask, session_factory: Callable[[], Session]) -> None:
    @huey.periodic_task(crontab(**DAILY_AT), name=task.name)  # type: ignore[untyped-decorator]
    def daily_task() -> None:
        task.run(session_factory)


def run_worker(jobs: Jobs, *, workers: int = 1, worker_type: str = "thread") -> None:
    """Consume the queue until stopped (SIGTERM: now; SIGINT: after the running tasks)."""
    jobs.expire_stale()  # runs a dead worker left behind fail now, not a minute from now
    # Forked worker processes must not share the parent's pooled connections.
    factory = jobs.session_factory
    bind = factory.kw.get("bind") if isinstance(factory, sessionmaker) else None
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

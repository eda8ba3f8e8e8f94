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
Every minute a worker fails runs past their lease and queues again the queued runs
whose job the queue lost (:meth:`Jobs.recover_lost_runs`: a Redis restarted without
persistence, say). A worker process writes a heartbeat into Huey's key-value storage
(:data:`HEARTBEAT_KEY`) every :data:`HEARTBEAT_SECONDS`; readiness reads it.
Other services hand the worker their daily maintenance as :class:`DailyTask` values
(``build_jobs(..., daily=[...])``), so this module imports none of them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.services.export_jobs import register_export_tasks
from api.services.runs.execution import execute_run, expire_stale_runs
from api.settings import Settings
from models import Run
from models.tenant_guard import required_factory, unguarded
from models.vocabulary import RunStatus

log = logging.getLogger("mentormatch.jobs")

#: A queued run this old whose job is not waiting in the queue is queued again. Its
#: trigger enqueued it right after committing, so younger ones may be in flight.
LOST_JOB_GRACE = timedelta(seconds=30)
#: Where worker processes leave their heartbeat (Huey's key-value storage: the queue's
#: own server, no table), and how often.
HEARTBEAT_KEY = "mentormatch:worker-heartbeat"
HEARTBEAT_SECONDS = 15.0


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

    def recover_lost_runs(self, *, now: datetime | None = None) -> list[uuid.UUID]:
        """Queue again each run queued for over :data:`LOST_JOB_GRACE` whose job is not
        in the queue; return their ids.

        Harmless if the job was only being handed to a worker: a run is claimed once
        (:func:`~api.services.runs.execution.execute_run` leaves a claimed run alone).
        """
        cutoff = (now or datetime.now(UTC)) - LOST_JOB_GRACE
        with self.session_factory() as session, unguarded(session):  # every organization
            session.connection(execution_options={"sqlite_begin": "DEFERRED"})  # a read
            queued = session.scalars(
                select(Run.id).where(Run.status == RunStatus.QUEUED, Run.created_at < cutoff)
            ).all()
        if not queued:
            return []
        waiting = {str(task.args[0]) for task in self.huey.pending() if task.name == "execute_run"}
        lost = [run_id for run_id in queued if str(run_id) not in waiting]
        for run_id in lost:
            log.warning("run's job was lost: queued again", extra={"run_id": str(run_id)})
            self.enqueue_run(run_id)
        return lost

    def beat(self) -> None:
        """Record that a worker process is alive (:data:`HEARTBEAT_KEY`)."""
        worker = f"{socket.gethostname()}:{os.getpid()}"
        self.huey.put(HEARTBEAT_KEY, {"at": datetime.now(UTC).isoformat(), "worker": worker})

    def last_heartbeat(self) -> datetime | None:
        """When a worker last beat, or None if none ever did (raises if the queue is down)."""
        value = self.huey.get(HEARTBEAT_KEY, peek=True)
        if not isinstance(value, dict) or not isinstance(value.get("at"), str):
            return None
        return datetime.fromisoformat(value["at"])


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

    @huey.periodic_task(every_minute, name="recover_lost_runs")  # type: ignore[untyped-decorator]
    def recover_lost_runs_task() -> None:
        jobs.recover_lost_runs()

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
    stop = threading.Event()
    threading.Thread(target=_beat, args=(jobs, stop), name="heartbeat", daemon=True).start()
    try:
        jobs.huey.create_consumer(**options).run()
    finally:
        stop.set()


def _beat(jobs: Jobs, stop: threading.Event) -> None:
    while True:
        try:
            jobs.beat()
        except Exception:  # the queue is down: readiness says so; beat again later
            log.warning("worker heartbeat failed")
        if stop.wait(HEARTBEAT_SECONDS):
            return

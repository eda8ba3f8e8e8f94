"""Background jobs on Huey: matching runs execute on a worker, not in the request.

Storage follows the deployment (DESIGN section 7), as :class:`api.settings.Settings` says:

* ``redis_url`` set: :class:`huey.RedisHuey`; run any number of
  ``mentormatch worker`` processes, on any number of machines, next to the API.
* otherwise :class:`huey.SqliteHuey`, in ``settings.jobs_file`` (next to the SQLite
  database by default), consumed by the worker that ``mentormatch serve`` starts itself.
* ``jobs_immediate``: tasks run inline when queued (tests, debugging).

Nothing is built at import time: :func:`build_jobs` makes a Huey instance and
registers its tasks on it; ``create_app`` and ``mentormatch worker`` call it once.
The task only calls :func:`api.services.runs.execution.execute_run` (with the
settings' run lease); the run's state lives in the database, so Huey keeps no results.

**Fair, isolated work.** One queue for every organization, and a per-organization
limit (``settings.org_concurrency``) checked as a worker claims a run: a run whose
organization already has that many running is left ``queued`` and its job is
scheduled again :data:`ORG_WAIT_SECONDS` later, at the back of the queue. So a
tenant's second run waits for its first, holds no worker slot meanwhile (the check
is one short transaction), and every other tenant's run is taken in its turn. Chosen
over a queue per organization: Huey has one queue per instance, and the database
already knows which runs are running. Process workers (``--worker-type process``)
fork from the consumer: its own threads then work on connections of their own
(:func:`_on_own_connections`), so a child shares no database or queue connection
with its parent (on a SQLite queue, no fork happens while those threads are inside a
transaction: :func:`_closed_across_forks`), and a child dies with its consumer. A
worker process runs at the CPU priority ``settings.worker_nice`` (nice 10 by
default; :func:`lower_priority`), with every thread and process worker it starts: on
a machine shared with API processes the web requests get the CPU first; on a worker
machine nothing changes.

**Nothing stuck.** Each worker process sweeps every ``settings.sweep_seconds``, from a
thread of its own, so that long runs filling every worker slot never delay it: runs
past their lease are failed; a queued run whose job is neither waiting nor scheduled
in two sweeps in a row (a Redis restarted without persistence, say) is queued again
(:meth:`Jobs.recover_lost_runs`; one sweep alone could catch a job in a worker's
hands); and every queued run's "never picked up" deadline is renewed, since a live
worker has it in hand. On PostgreSQL a sweep updates only rows it first locked in id
order, skipping those another transaction holds (:func:`_lock_in_id_order`), so the
sweeps of many workers never wait for one another nor deadlock. A worker process
also writes a heartbeat into Huey's key-value storage (:data:`HEARTBEAT_KEY`) every
:data:`HEARTBEAT_SECONDS`; readiness reads it.
Other services hand the worker their daily maintenance as :class:`DailyTask` values
(``build_jobs(..., daily=[...])``), so this module imports none of them.
"""

from __future__ import annotations

import copy
import ctypes
import dataclasses
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import ColumnElement, Engine, select
from sqlalchemy.orm import Session, sessionmaker

from api.services import observability
from api.services.export_jobs import register_export_tasks
from api.services.runs.execution import (
    WAITING,
    execute_run,
    expire_stale_runs,
    keep_queued,
    preload,
)
from api.settings import Settings
from models import Run, make_engine, make_session_factory
from models.tenant_guard import required_factory, unguarded
from models.vocabulary import RUN_ACTIVE_STATUSES, RunStatus

log = logging.getLogger("mentormatch.jobs")

#: A run left waiting for its organization's turn is looked at again this much later.
ORG_WAIT_SECONDS = 1.0
#: Where worker processes leave their heartbeat (Huey's key-value storage: the queue's
#: own server, no table), and how often.
HEARTBEAT_KEY = "mentormatch:worker-heartbeat"
HEARTBEAT_SECONDS = 15.0
_PR_SET_PDEATHSIG = 1


@dataclass
class Jobs:
    """A Huey instance with the service's tasks registered on it."""

    huey: Huey
    #: The ``execute_run`` task (a Huey TaskWrapper: untyped).
    _execute: Any
    session_factory: Callable[[], Session]
    #: Queues an organization export (:mod:`api.services.export_jobs`).
    enqueue_export: Callable[[uuid.UUID], None]
    #: Seconds between a worker process's sweeps (:meth:`sweep`).
    sweep_seconds: float = 30.0
    #: The CPU priority (nice value) :func:`run_worker` lowers its process to.
    worker_nice: int = 0
    #: The port :func:`run_worker` serves the worker's metrics on (None: none).
    metrics_port: int | None = None
    #: Queued runs whose job the last sweep found neither waiting nor scheduled.
    _unseen: set[uuid.UUID] = field(default_factory=set)

    @property
    def backend(self) -> str:
        return "redis" if isinstance(self.huey, RedisHuey) else "sqlite"

    def enqueue_run(self, run_id: uuid.UUID) -> None:
        """Queue the run for a worker (or, in immediate mode, execute it now)."""
        self.huey.enqueue(self._execute.s(str(run_id)))

    def expire_stale(self) -> list[uuid.UUID]:
        now = datetime.now(UTC)
        with self.session_factory() as session:
            stale = _lock_in_id_order(
                session,
                Run.status.in_(RUN_ACTIVE_STATUSES),
                Run.lease_expires_at.is_not(None),
                Run.lease_expires_at < now,
            )
            expired = expire_stale_runs(session, now=now, among=stale) if stale != [] else []
            session.commit()
        for run_id in expired:
            log.warning("run failed: worker lost", extra={"run_id": str(run_id)})
        return expired

    def jobs_in_queue(self) -> set[str]:
        """The run ids with a job waiting in the queue or scheduled for later."""
        tasks = [*self.huey.pending(), *self.huey.scheduled()]
        return {str(task.args[0]) for task in tasks if task.name == "execute_run"}

    def recover_lost_runs(self) -> list[uuid.UUID]:
        """Queue again each queued run whose job this sweep and the previous one both
        found missing from the queue; renew the others' "never picked up" deadline;
        return the ids queued again.

        The database is read before the queue, so a run triggered in between is not
        taken for lost. A job being handed to a worker, or rescheduled by one, is
        missing for a moment: the second look tells it from a lost one. Queuing a job
        twice is harmless anyway: a run is claimed once
        (:func:`~api.services.runs.execution.execute_run` leaves a claimed run alone).
        """
        with self.session_factory() as session, unguarded(session):  # every organization
            session.connection(execution_options={"sqlite_begin": "DEFERRED"})  # a read
            queued = list(session.scalars(select(Run.id).where(Run.status == RunStatus.QUEUED)))
        in_queue = self.jobs_in_queue() if queued else set()
        missing = {run_id for run_id in queued if str(run_id) not in in_queue}
        lost = sorted(missing & self._unseen)
        self._unseen = missing - set(lost)
        for run_id in lost:
            log.warning("run's job was lost: queued again", extra={"run_id": str(run_id)})
            self.enqueue_run(run_id)
        if not queued:
            return lost
        with self.session_factory() as session:
            waiting = _lock_in_id_order(session, Run.id.in_(queued), Run.status == RunStatus.QUEUED)
            keep_queued(session, queued if waiting is None else waiting)
            session.commit()
        return lost

    def sweep(self) -> None:
        """One round of a worker's maintenance: fail expired runs, recover lost jobs."""
        self.expire_stale()
        self.recover_lost_runs()

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


def _lock_in_id_order(session: Session, *where: ColumnElement[bool]) -> list[uuid.UUID] | None:
    """On PostgreSQL, the ids of the runs ``where`` selects, row-locked in id order for
    the caller's transaction, leaving out those another transaction holds; elsewhere
    None (SQLite has one writer at a time: nothing to order).

    The sweep then updates only these rows, so it never waits for a lock: sweeps of
    many workers, and a sweep and a claim or a trigger, cannot deadlock (a row one of
    them skips is another's to update, or the next sweep's).
    """
    if session.get_bind().dialect.name != "postgresql":
        return None
    with unguarded(session):  # maintenance across organizations
        return list(
            session.scalars(
                select(Run.id).where(*where).order_by(Run.id).with_for_update(skip_locked=True)
            )
        )


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
    ``settings.run_lease_seconds``, at most ``settings.org_concurrency`` of one
    organization at once (no limit in immediate mode: there each run executes in its
    trigger's thread, and a run put off could not be taken up again). Each of ``daily``
    becomes a periodic task of that name, run by a worker at :data:`DAILY_AT`.
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
    concurrency = None if immediate else settings.org_concurrency
    # A task's sessions refuse tenant queries until the task scopes them to its run's or
    # export's organization, or opts out for maintenance (models.tenant_guard).
    task_sessions = required_factory(session_factory)

    # Huey ships no type hints: its decorators are untyped (the tasks' own types hold).
    @huey.task(name="execute_run")  # type: ignore[untyped-decorator]
    def execute_run_task(run_id: str) -> str:
        outcome = execute_run(
            task_sessions, uuid.UUID(run_id), lease=lease, concurrency=concurrency
        )
        if outcome == WAITING:  # its organization is at its limit: look again shortly
            execute_run_task.schedule((run_id,), delay=ORG_WAIT_SECONDS)
        return outcome

    exports = register_export_tasks(huey, task_sessions)
    jobs = Jobs(
        huey,
        execute_run_task,
        session_factory,
        exports,
        settings.sweep_seconds,
        worker_nice=settings.worker_nice,
        metrics_port=settings.worker_metrics_port,
    )
    for task in daily:
        _register_daily(huey, task, task_sessions)
    return jobs


def _register_daily(huey: Huey, task: DailyTask, session_factory: Callable[[], Session]) -> None:
    @huey.periodic_task(crontab(**DAILY_AT), name=task.name)  # type: ignore[untyped-decorator]
    def daily_task() -> None:
        task.run(session_factory)


def run_worker(jobs: Jobs, *, workers: int = 1, worker_type: str = "thread") -> None:
    """Consume the queue until stopped (SIGTERM: now; SIGINT: after the running tasks).

    Beside the consumer, two threads of this process: the heartbeat and the sweep.
    First of all the process lowers its CPU priority to ``jobs.worker_nice``
    (:func:`lower_priority`), so its threads and the process workers it forks do too;
    then it imports what a run imports on first use
    (:func:`~api.services.runs.execution.preload`), so its first run is not slower.
    """
    nice = lower_priority(jobs.worker_nice)
    preload()  # before any fork: every process worker starts with the run's modules
    jobs.expire_stale()  # runs a dead worker left behind fail now, not a sweep from now
    # Forked worker processes must not share the parent's pooled connections.
    factory = jobs.session_factory
    bind = factory.kw.get("bind") if isinstance(factory, sessionmaker) else None
    if bind is not None:
        bind.dispose()
    maintenance = jobs
    guard: Callable[[Callable[[], object]], Callable[[], object]] = _as_is
    if worker_type == "process":
        maintenance = _on_own_connections(jobs, bind)
        os.register_at_fork(after_in_child=_in_worker_process(bind))
        if jobs.backend == "sqlite":
            guard = _closed_across_forks(maintenance.huey.storage)
    if jobs.metrics_port is not None:
        observability.serve_worker_metrics(jobs.metrics_port, forks=worker_type == "process")
    options: dict[str, Any] = {
        "workers": workers,
        "worker_type": worker_type,
        "periodic": True,
        "check_worker_health": True,
    }
    if jobs.backend == "sqlite":
        # SQLite is polled: keep the idle poll short so a pressed button starts at once.
        options.update(initial_delay=0.05, backoff=1.5, max_delay=0.5)
    log.info(
        "worker starting",
        extra={
            "backend": jobs.backend,
            "workers": workers,
            "worker_type": worker_type,
            "nice": nice,
            "metrics_port": jobs.metrics_port,
        },
    )
    stop = threading.Event()
    for name, action, every in (
        ("heartbeat", maintenance.beat, HEARTBEAT_SECONDS),
        ("sweep", maintenance.sweep, jobs.sweep_seconds),
    ):
        thread = threading.Thread(target=_every, args=(every, guard(action), stop, name), name=name)
        thread.daemon = True
        thread.start()
    try:
        jobs.huey.create_consumer(**options).run()
    finally:
        stop.set()


def lower_priority(nice: int) -> int:
    """Lower this process's CPU priority to the nice value ``nice`` (never raise it:
    a process started lower already stays there); return the nice value it runs at.

    Linux keeps a nice value per thread, inherited by the threads and processes a
    thread starts: every thread already running is lowered (the math libraries start
    theirs at import), and the threads and process workers started later inherit it.
    """
    target = max(nice, os.nice(0))
    tasks = Path("/proc/self/task")
    threads = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]
    for thread in threads:
        try:
            if os.getpriority(os.PRIO_PROCESS, thread) < target:
                os.setpriority(os.PRIO_PROCESS, thread, target)
        except ProcessLookupError:  # a thread that ended meanwhile
            continue
    return target


def _every(seconds: float, action: Callable[[], object], stop: threading.Event, name: str) -> None:
    """Call ``action`` now and every ``seconds`` until ``stop``; a failure is logged and
    the next round tried (the queue or database down: readiness says so meanwhile)."""
    while True:
        try:
            action()
        except Exception:
            log.warning("worker %s failed", name, exc_info=True)
        if stop.wait(seconds):
            return


def _on_own_connections(jobs: Jobs, engine: Engine | None) -> Jobs:
    """A copy of ``jobs`` on a queue connection and a database pool of its own.

    The consumer's threads (heartbeat, sweep) use it, so that the worker processes it
    forks, which use ``jobs``, never inherit a connection in use by a thread (nor one
    they would close under it): SQLite's and Redis's connections are not fork-safe.
    """
    huey = copy.copy(jobs.huey)
    huey.storage = huey.create_storage()
    factory = jobs.session_factory
    if engine is not None and isinstance(factory, sessionmaker):
        url = engine.url.render_as_string(hide_password=False)
        factory = make_session_factory(make_engine(url), info=factory.kw.get("info"))
    return dataclasses.replace(jobs, huey=huey, session_factory=factory, _unseen=set())


def _as_is(action: Callable[[], object]) -> Callable[[], object]:
    return action


def _closed_across_forks(storage: Any) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """A wrapper for the consumer's maintenance actions on a SQLite queue: the action
    holds the queue's connection open only while it runs, and a fork waits for it.

    SQLite keeps per-process state for each database file (its locks, the WAL index).
    A child forked while its parent was inside a write transaction inherits that state
    and finds the file "locked" for good, even after the parent commits: every dequeue
    of the process worker failed with "database is locked" when the fork met the
    first heartbeat (seen in CI). A connection left idle across a fork is harmless;
    closing it after each action means none is open when the lock lets a fork through.
    """
    lock = threading.Lock()
    os.register_at_fork(
        before=lock.acquire, after_in_parent=lock.release, after_in_child=lock.release
    )

    def guard(action: Callable[[], object]) -> Callable[[], object]:
        def guarded() -> object:
            with lock:
                try:
                    return action()
                finally:
                    storage.close()

        return guarded

    return guard


def _in_worker_process(engine: Engine | None) -> Callable[[], None]:
    """What a forked worker process does first: open its own database connections
    (SQLAlchemy's ``dispose(close=False)``: the parent's, if any, are left alone) and
    arrange to be killed when its consumer dies, as a thread worker would be, so that
    no orphan executes runs with nobody beating for it."""
    killed_with_consumer = die_with_parent(signal.SIGKILL)

    def in_child() -> None:
        if engine is not None:
            engine.dispose(close=False)
        killed_with_consumer()

    return in_child


def die_with_parent(signum: int) -> Callable[[], None]:
    """A function that, called in a child process, has the kernel send ``signum`` to
    it when the thread that started it ends (its process included, even by SIGKILL).

    Linux's ``prctl`` is looked up now, in the parent, so the child (a ``preexec_fn``,
    an at-fork hook) only calls it. Elsewhere the function does nothing.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return lambda: None
    return lambda: prctl(_PR_SET_PDEATHSIG, signum)

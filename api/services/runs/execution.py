"""The worker's side of a run: claim it, load the cohort, match it, persist the result.

Called by the queue's task (:mod:`api.services.runs.queue`), and by tests and
benchmarks directly. Phases, each timed into ``run.stats["seconds"]``: claim the
queued run (``running`` with a lease), load the cohort
(:func:`~api.services.runs.cohort.load_cohort`), score, assign and explain
(:func:`~api.services.cohort_matching.match_cohort`), persist. Progress is written in
short transactions of their own as the phases end, and a heartbeat thread renews the
lease meanwhile, so a live worker's run is never taken for a dead one
(:func:`expire_stale_runs`). Proposals and the unmatched are written together with
the final status in one transaction at the end: a run that fails at any point leaves
no proposals, only its status and the reason.

**Per-organization concurrency.** With ``concurrency`` set, the claim counts the
organization's running runs (live leases only) under a lock on the organization's row;
at the limit, the run stays ``queued`` and :func:`execute_run` returns :data:`WAITING`
at once, so the worker slot is free for another tenant's run and the queue schedules
this one again shortly (:mod:`api.services.runs.queue`). A queued run's lease is the
"never picked up" deadline, :data:`QUEUE_TIMEOUT`; each such wait renews it, and so
does the workers' sweep (:func:`keep_queued`), so a run that waits its turn, behind
its own organization's runs or another tenant's long ones, is never failed for it.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

import matcher
from api.services import observability
from api.services.cohort_matching import (
    DENSE_PAIR_LIMIT,
    REAL_ENGINES,
    CohortResult,
    Engines,
    match_cohort,
)
from api.services.runs.cohort import Cohort, RunError, load_cohort
from models import Match, Organization, Run, UnmatchedMentee
from models.bulk import insert_rows
from models.tenant_guard import scoped_factory, unguarded
from models.vocabulary import RUN_ACTIVE_STATUSES, MatchStatus, RunStatus
from scoring import ScoringError

log = logging.getLogger("mentormatch.runs")

SessionFactory = Callable[[], Session]
DEFAULT_LEASE_SECONDS = 120.0
#: A queued run no worker has looked at for this long is failed, freeing the program:
#: no worker is running (a live one renews it, :func:`keep_queued`).
QUEUE_TIMEOUT = timedelta(hours=1)
#: What :func:`execute_run` returns for a run left queued because its organization
#: already has ``concurrency`` runs running.
WAITING = "waiting"
#: Run progress when each phase ends.
PROGRESS = {"claimed": 0.05, "loaded": 0.15, "scored": 0.45, "assigned": 0.8, "explained": 0.9}
#: The phase a run is in once each step ends (``Run.phase``): NULL while queued and
#: once succeeded; a failed or cancelled run keeps the phase it stopped in.
PHASE_AFTER = {
    "claimed": "loading",
    "loaded": "scoring",
    "scored": "assigning",
    "assigned": "explaining",
    "explained": "saving",
}
INSERT_BATCH = 5000
#: The modules a run imports on first use beside the matcher's (scikit-learn's and
#: SciPy's, a second or more of imports on a two-core machine): see :func:`preload`.
RUN_MODULES = ("scoring.learn", "scoring.calibrate")


def preload() -> None:
    """Import what a run would import lazily (:data:`RUN_MODULES`,
    :func:`matcher.preload`).

    A worker calls it before it takes a run, so that its first run is as fast as the
    next (a 3 x 3 run took 1.4 s in a fresh process worker, 25 ms after) and the
    process workers a consumer forks inherit the modules instead of each importing
    them. The web processes do not: most of their requests never need them.
    """
    for name in RUN_MODULES:
        importlib.import_module(name)
    matcher.preload()


def _now() -> datetime:
    return datetime.now(UTC)


class _Heartbeat:
    """Renews the run's lease every quarter lease, from a thread with its own session."""

    def __init__(self, session_factory: SessionFactory, run_id: uuid.UUID, lease: float) -> None:
        self.session_factory, self.run_id, self.lease = session_factory, run_id, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{run_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.lease / 4):
            try:
                self.update()
            except RunStopped:
                return  # cancelled or expired: the main thread stops at its next phase
            except Exception:  # a missed renewal is survivable; the next one may work
                log.warning("lease renewal failed", extra={"run_id": str(self.run_id)})

    def update(self, **values: Any) -> None:
        """Renew the lease (and set ``values``); :class:`RunStopped` if the run is no
        longer running: an admin cancelled it, or its lease was taken for expired."""
        with self.session_factory() as session:
            renewed = session.execute(
                update(Run)
                .where(Run.id == self.run_id, Run.status == RunStatus.RUNNING)
                .values(lease_expires_at=_now() + timedelta(seconds=self.lease), **values)
            )
            session.commit()
        if renewed.rowcount == 0:  # type: ignore[attr-defined]
            raise RunStopped(self.run_id)


class RunStopped(Exception):
    """The run left ``running`` under its worker (cancelled, or failed by expiry)."""

    def __init__(self, run_id: uuid.UUID) -> None:
        super().__init__(f"run {run_id} is no longer running")
        self.run_id = run_id


def _claim(
    session_factory: SessionFactory, run_id: uuid.UUID, lease: float, concurrency: int | None
) -> str:
    """Make the queued run ``running``: "claimed"; or leave it: "gone" (not queued any
    more), :data:`WAITING` (its organization has ``concurrency`` runs running)."""
    with session_factory() as session:
        run = session.scalars(select(Run).where(Run.id == run_id).with_for_update()).first()
        if run is None or run.status != RunStatus.QUEUED:
            return "gone"  # finished, failed, or another worker has it: nothing to do
        if concurrency is not None and _running_count(session, run.organization_id) >= (
            concurrency
        ):
            run.lease_expires_at = _now() + QUEUE_TIMEOUT  # waiting its turn is not lost
            session.commit()
            return WAITING
        now = _now()  # after the organization's lock: the claim's true time
        run.status, run.started_at, run.progress = RunStatus.RUNNING, now, PROGRESS["claimed"]
        run.phase = PHASE_AFTER["claimed"]
        run.lease_expires_at = now + timedelta(seconds=lease)
        session.commit()
        return "claimed"


def _running_count(session: Session, organization_id: uuid.UUID) -> int:
    """The organization's running runs whose lease is alive, counted under a lock on
    the organization's row (PostgreSQL; SQLite's write transaction is the lock), so
    that two workers claiming at once see each other's claim.

    ``FOR NO KEY UPDATE``: claims exclude each other, but not a run saving its
    proposals meanwhile (their foreign keys take ``KEY SHARE`` on the same row).
    """
    session.execute(
        select(Organization.id)
        .where(Organization.id == organization_id)
        .with_for_update(key_share=True)
    )
    now = _now()
    counted = session.scalar(
        select(func.count())
        .select_from(Run)
        .where(
            Run.organization_id == organization_id,
            Run.status == RunStatus.RUNNING,
            Run.lease_expires_at > now,
        )
    )
    return int(counted or 0)


_PIN_PROBLEMS = {
    "not_allowed": "is not allowed by the hard constraints (a required criterion, an "
    "exclusion, or an inactive participant)",
    "over_capacity": "has more pins than free places",
    "duplicate_mentee": "is pinned more than once",
    "out_of_range": "is not in this run's cohort",
}


def _matcher_refusal(exc: matcher.MatcherError, cohort: Cohort) -> str:
    """Why the matcher refused the run, naming people by external id.

    The matcher's own message names rows and columns of this run's matrices, which
    mean nothing outside it; a pin error carries those indices as attributes.
    """

    def who(people: list[dict[str, Any]], ids: list[uuid.UUID], k: int | None) -> str:
        if k is None or not 0 <= k < len(people):
            return "?"
        return repr(people[k]["external_id"] or str(ids[k]))

    if not isinstance(exc, matcher.InvalidPinError):
        return str(exc)
    mentee = who(cohort.mentees, cohort.mentee_ids, exc.mentee)
    mentor = who(cohort.mentors, cohort.mentor_ids, exc.mentor)
    problem = _PIN_PROBLEMS.get(exc.problem, exc.problem)
    if exc.problem == "over_capacity":
        return f"mentor {mentor} {problem}"
    if exc.problem == "duplicate_mentee":
        return f"mentee {mentee} {problem}"
    return f"pin [{mentee}, {mentor}] {problem}"


def _persist(
    session_factory: SessionFactory,
    run_id: uuid.UUID,
    cohort: Cohort,
    result: CohortResult,
    seconds: dict[str, float],
    started: float,
) -> None:
    with session_factory() as session:
        run = session.scalars(select(Run).where(Run.id == run_id).with_for_update()).one()
        if run.status != RunStatus.RUNNING:
            raise RunStopped(run_id)  # cancelled or expired meanwhile: results dropped
        t0 = time.perf_counter()
        now = _now()
        predicted = _predicted_success(cohort, result)
        base = {
            "organization_id": cohort.organization_id,
            "program_id": cohort.program_id,
            "run_id": run_id,
        }
        matches = [
            {
                **base,
                "id": uuid.uuid4(),
                "mentee_id": cohort.mentee_ids[int(i)],
                "mentor_id": cohort.mentor_ids[int(j)],
                "status": MatchStatus.PROPOSED,
                "score": float(e.score),
                "breakdown": list(e.breakdown),
                "reasons": list(e.reasons),
                "predicted_success": None if predicted is None else float(predicted[k]),
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            for k, (i, j, e) in enumerate(
                zip(result.mentee, result.mentor, result.explanations, strict=True)
            )
        ]
        unmatched = [
            {
                "id": uuid.uuid4(),
                "organization_id": cohort.organization_id,
                "run_id": run_id,
                "mentee_id": cohort.mentee_ids[int(i)],
                "reason": reason,
            }
            for i, reason in zip(result.unmatched, result.unmatched_reasons, strict=True)
        ]
        # Plain dicts, no ORM objects for thousands of proposals; on PostgreSQL one
        # statement per batch (models.bulk).
        for model, rows in ((Match, matches), (UnmatchedMentee, unmatched)):
            insert_rows(session, cast(Table, model.__table__), rows, batch=INSERT_BATCH)
        seconds["persist"] = time.perf_counter() - t0
        seconds["total"] = time.perf_counter() - started
        run.status, run.progress, run.phase = RunStatus.SUCCEEDED, 1.0, None
        run.weights_version = cohort.weights_version
        run.stats = {
            **result.stats,
            **cohort.info,
            "weights_version": cohort.weights_version,
            "predicted_success_mean": (
                float(predicted.mean()) if predicted is not None and predicted.size else None
            ),
            "calibration_samples": (
                len(cohort.calibration.success) if cohort.calibration is not None else 0
            ),
            "seconds": {k: round(v, 4) for k, v in seconds.items()},
        }
        run.finished_at, run.lease_expires_at = _now(), None
        session.commit()


def _predicted_success(cohort: Cohort, result: CohortResult) -> npt.NDArray[np.float64] | None:
    """Each proposal's predicted success, calibrated on the program's past outcomes
    (:attr:`Cohort.calibration`); None while the program has too few."""
    if cohort.calibration is None:
        return None
    scores = np.array([float(e.score) for e in result.explanations], dtype=np.float64)
    return cohort.calibration.predict(scores)


def _mark_failed(session_factory: SessionFactory, run_id: uuid.UUID, reason: str) -> None:
    with session_factory() as session:
        session.execute(
            update(Run)
            .where(Run.id == run_id, Run.status.in_(RUN_ACTIVE_STATUSES))
            .values(
                status=RunStatus.FAILED,
                error=reason[:2000],
                finished_at=_now(),
                lease_expires_at=None,
            )
        )
        session.commit()


def execute_run(
    session_factory: SessionFactory,
    run_id: uuid.UUID,
    *,
    engines: Engines = REAL_ENGINES,
    lease: float = DEFAULT_LEASE_SECONDS,
    dense_pair_limit: int = DENSE_PAIR_LIMIT,
    concurrency: int | None = None,
) -> str:
    """Run the queued run ``run_id`` to its end and return its final status.

    A run that is not ``queued`` any more (done, failed, or claimed by another
    worker) is left alone. Any exception fails the run with the reason; nothing
    of its proposals is written then. With ``concurrency``, a run whose organization
    has that many runs running is left queued and :data:`WAITING` returned.
    """
    started = time.perf_counter()
    with session_factory() as session, unguarded(session):  # the run decides the organization
        organization_id = session.scalar(select(Run.organization_id).where(Run.id == run_id))
    if organization_id is None:
        return "missing"
    # Every session of the run, the heartbeat's included, sees its organization alone.
    session_factory = scoped_factory(session_factory, organization_id)
    claim = _claim(session_factory, run_id, lease, concurrency)
    if claim == WAITING:
        return WAITING
    if claim == "gone":
        with session_factory() as session:
            status = session.scalar(select(Run.status).where(Run.id == run_id))
        return status or "missing"
    seconds: dict[str, float] = {}
    try:
        with _Heartbeat(session_factory, run_id, lease) as heartbeat:
            with session_factory() as session:
                session.connection(execution_options={"sqlite_begin": "DEFERRED"})
                cohort = load_cohort(session, run_id)
            seconds["load"] = time.perf_counter() - started
            heartbeat.update(progress=PROGRESS["loaded"], phase=PHASE_AFTER["loaded"])
            try:
                result = match_cohort(
                    cohort.mentees,
                    cohort.mentors,
                    cohort.config,
                    weights=cohort.weights,
                    exclude_pairs=cohort.exclude_pairs,
                    capacity=cohort.capacity,
                    pins=cohort.pins,
                    objective=cohort.objective,
                    priority_rows=cohort.priority_rows,
                    priority_bonus=cohort.priority_bonus,
                    dense_pair_limit=dense_pair_limit,
                    engines=engines,
                    on_phase=lambda step: heartbeat.update(
                        progress=PROGRESS[step], phase=PHASE_AFTER[step]
                    ),
                )
            except matcher.MatcherError as exc:
                reason = _matcher_refusal(exc, cohort)
                raise RunError(f"the matcher refused the run: {reason}") from exc
            seconds.update(result.seconds)
            _persist(session_factory, run_id, cohort, result, seconds, started)
            observability.observe_run_phases(seconds)
    except RunStopped:
        # Cancelled (or expired) meanwhile: its status says so already; write nothing.
        with session_factory() as session:
            status = session.scalar(select(Run.status).where(Run.id == run_id))
        log.info("run stopped: %s", status, extra={"run_id": str(run_id)})
        return status or "missing"
    except Exception as exc:
        known = isinstance(exc, RunError | ScoringError)
        # The run's error is served by the API: an unexpected exception (a database
        # error with its SQL parameters, say) may carry names or emails, so only its
        # class is stored; the full text goes to the worker log, tagged with the run id.
        reason = (
            str(exc)
            if known
            else f"{type(exc).__name__}: unexpected error; see the worker log (run_id {run_id})"
        )
        log.log(
            logging.WARNING if known else logging.ERROR,
            "run failed: %s",
            reason,
            exc_info=not known,
            extra={"run_id": str(run_id)},
        )
        _mark_failed(session_factory, run_id, reason)
        return RunStatus.FAILED
    log.info("run succeeded", extra={"run_id": str(run_id)})
    return RunStatus.SUCCEEDED


def expire_stale_runs(
    session: Session, *, now: datetime | None = None, among: list[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """Fail every active run whose lease expired (its worker died, or none ever took it).

    Called by the queue's periodic task, by a worker as it starts, before each trigger,
    and by reads of runs (``among``: only those). Runs in the caller's transaction; the
    caller commits.
    """
    now = now or _now()
    with unguarded(session):  # maintenance across organizations
        stmt = select(Run.id, Run.status, Run.lease_expires_at).where(
            Run.status.in_(RUN_ACTIVE_STATUSES),
            Run.lease_expires_at.is_not(None),
            Run.lease_expires_at < now,
        )
        if among is not None:
            stmt = stmt.where(Run.id.in_(among))
        stale = session.execute(stmt).all()
        for run_id, status, expired_at in stale:
            assert expired_at is not None  # selected by lease_expires_at < now
            stamp = expired_at.astimezone(UTC).isoformat(timespec="seconds")
            reason = (
                f"worker lost: lease expired at {stamp}"
                if status == RunStatus.RUNNING
                else f"never picked up by a worker: queued until {stamp}"
            )
            session.execute(
                update(Run)
                .where(Run.id == run_id, Run.status == status)
                .values(
                    status=RunStatus.FAILED, error=reason, finished_at=now, lease_expires_at=None
                )
            )
    return [row[0] for row in stale]


def keep_queued(session: Session, run_ids: list[uuid.UUID], *, now: datetime | None = None) -> None:
    """Renew the "never picked up" deadline of those of ``run_ids`` still queued: a live
    worker saw their job waiting in the queue. In the caller's transaction."""
    if not run_ids:
        return
    with unguarded(session):  # maintenance across organizations
        session.execute(
            update(Run)
            .where(Run.id.in_(run_ids), Run.status == RunStatus.QUEUED)
            .values(lease_expires_at=(now or _now()) + QUEUE_TIMEOUT)
        )

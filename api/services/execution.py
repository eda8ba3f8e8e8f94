"""Execute one matching run: the single orchestration the worker, the CLI and tests call.

Phases, each timed into ``run.stats["seconds"]``: claim the queued run (``running``
with a lease), load the cohort, score, assign, explain the chosen pairs, persist.
Progress is written in short transactions of their own as the phases end, and a
heartbeat thread renews the lease meanwhile, so a live worker's run is never taken
for a dead one (:func:`api.services.runs.expire_stale_runs`). Proposals and the
unmatched are written together with the final status in one transaction at the end:
a run that fails at any point leaves no proposals, only its status and the reason.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import matcher
from api.services import pipeline
from api.services.lookup import PROFILE_COLUMNS, config_of, profile
from models import Match, Participant, Program, Run, UnmatchedMentee, WeightsVersion
from scoring import ScoringError, validate_config

log = logging.getLogger("mentormatch.runs")

SessionFactory = Callable[[], Session]
DEFAULT_LEASE_SECONDS = 120.0
#: Run progress when each phase ends.
PROGRESS = {"claimed": 0.05, "loaded": 0.15, "scored": 0.45, "assigned": 0.8, "explained": 0.9}
PREVIOUS_PAIR_STATUSES = ("published", "ended", "rejected")
INSERT_BATCH = 5000


class RunError(Exception):
    """A run cannot go on; the message becomes the run's ``error``."""


def lease_seconds() -> float:
    """How long a worker's claim on a run lasts without renewal (MENTORMATCH_RUN_LEASE_SECONDS)."""
    return float(os.environ.get("MENTORMATCH_RUN_LEASE_SECONDS", DEFAULT_LEASE_SECONDS))


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
            except Exception:  # a missed renewal is survivable; the next one may work
                log.warning("lease renewal failed", extra={"run_id": str(self.run_id)})

    def update(self, **values: Any) -> None:
        with self.session_factory() as session:
            session.execute(
                update(Run)
                .where(Run.id == self.run_id, Run.status == "running")
                .values(lease_expires_at=_now() + timedelta(seconds=self.lease), **values)
            )
            session.commit()


@dataclass
class _Cohort:
    organization_id: uuid.UUID
    program_id: uuid.UUID
    config: dict[str, Any]
    objective: str
    weights: dict[str, float] | None
    weights_version: int | None
    mentee_ids: list[uuid.UUID]
    mentor_ids: list[uuid.UUID]
    mentees: list[dict[str, Any]]
    mentors: list[dict[str, Any]]
    capacity: np.ndarray
    exclude_pairs: list[tuple[int, int]]
    pins: list[tuple[int, int]]
    priority_rows: np.ndarray
    priority_bonus: float
    info: dict[str, Any] = field(default_factory=dict)


def _claim(session_factory: SessionFactory, run_id: uuid.UUID, lease: float) -> bool:
    with session_factory() as session:
        run = session.scalars(select(Run).where(Run.id == run_id).with_for_update()).first()
        if run is None or run.status != "queued":
            return False  # finished, failed, or another worker has it: nothing to do
        now = _now()
        run.status, run.started_at, run.progress = "running", now, PROGRESS["claimed"]
        run.lease_expires_at = now + timedelta(seconds=lease)
        session.commit()
        return True


def _pending_proposals(
    session: Session, program_id: uuid.UUID, run_id: uuid.UUID
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(mentee, mentor) of the proposals still pending from the latest real run."""
    latest = session.scalars(
        select(Run.id)
        .where(
            Run.program_id == program_id,
            Run.id != run_id,
            Run.status == "succeeded",
            Run.dry_run.is_(False),
        )
        .order_by(Run.finished_at.desc(), Run.id)
        .limit(1)
    ).first()
    if latest is None:
        return []
    rows = session.execute(
        select(Match.mentee_id, Match.mentor_id).where(
            Match.run_id == latest, Match.status == "proposed"
        )
    ).all()
    return [(mentee, mentor) for mentee, mentor in rows]


def _load(session: Session, run_id: uuid.UUID) -> _Cohort:
    run = session.get(Run, run_id)
    assert run is not None
    program = session.get(Program, run.program_id)
    if program is None or program.deleted_at is not None:
        raise RunError("the program was deleted")
    options = run.options or {}
    try:
        config = validate_config(
            {**config_of(session, program, run.config_version), **(options.get("config") or {})}
        )
    except ScoringError as exc:
        raise RunError(str(exc)) from None
    active_weights = session.scalars(
        select(WeightsVersion).where(
            WeightsVersion.program_id == program.id, WeightsVersion.active.is_(True)
        )
    ).first()

    # Core rows of just the columns a profile needs: no ORM identity map, no
    # timestamps to parse (loading ORM objects took ~3.5 s for 20k participants).
    people = session.execute(
        select(Participant.id, Participant.role, *PROFILE_COLUMNS)
        .where(Participant.program_id == program.id, Participant.active.is_(True))
        .order_by(Participant.created_at, Participant.id)
    ).all()
    published = session.execute(
        select(Match.mentee_id, Match.mentor_id).where(
            Match.program_id == program.id, Match.status == "published"
        )
    ).all()
    matched_mentees = {mentee for mentee, _ in published}
    used = Counter(mentor for _, mentor in published)
    # A mentee with a published match is never re-matched, whatever the scope; published
    # matches keep their mentors' places. Scope "all" re-matches everyone else from
    # scratch. Scope "unmatched" also keeps the proposals still pending from the latest
    # run (and the places they hold): it matches only that run's leftovers, newcomers
    # and those whose match ended, so both runs' proposals can be published.
    pending = _pending_proposals(session, program.id, run.id) if run.scope == "unmatched" else []
    kept_mentees = {mentee for mentee, _ in pending}
    used.update(mentor for _, mentor in pending)
    mentees = [
        p
        for p in people
        if p.role == "mentee" and p.id not in matched_mentees and p.id not in kept_mentees
    ]
    already_matched = sum(1 for p in people if p.role == "mentee" and p.id in matched_mentees)
    mentors = [p for p in people if p.role == "mentor"]
    row = {p.id: i for i, p in enumerate(mentees)}
    col = {p.id: j for j, p in enumerate(mentors)}

    mentor_profiles = [profile(p) for p in mentors]
    capacity = pipeline.capacities(mentor_profiles, int(config["default_capacity"]))
    capacity -= np.array([used.get(p.id, 0) for p in mentors], dtype=np.int64)
    np.maximum(capacity, 0, out=capacity)

    ext_row = {p.external_id: i for i, p in enumerate(mentees)}
    ext_col = {p.external_id: j for j, p in enumerate(mentors)}
    pins = []
    for mentee_ext, mentor_ext in options.get("pins") or []:
        if mentee_ext not in ext_row or mentor_ext not in ext_col:
            raise RunError(
                f"pin [{mentee_ext!r}, {mentor_ext!r}]: no longer an active mentee "
                "without a published match and an active mentor of this program"
            )
        pins.append((ext_row[mentee_ext], ext_col[mentor_ext]))

    # Previous pairs of the same people are never proposed again; an admin's pin overrides.
    previous = session.execute(
        select(Match.mentee_id, Match.mentor_id)
        .where(Match.program_id == program.id, Match.status.in_(PREVIOUS_PAIR_STATUSES))
        .distinct()
    ).all()
    pinned = set(pins)
    exclude = sorted(
        {
            (row[a], col[b])
            for a, b in previous
            if a in row and b in col and (row[a], col[b]) not in pinned
        }
    )

    bonus = float(options.get("priority_unmatched") or 0.0)
    priority: list[int] = []
    if bonus > 0:
        earlier = session.scalars(
            select(UnmatchedMentee.mentee_id)
            .join(Run, Run.id == UnmatchedMentee.run_id)
            .where(
                Run.program_id == program.id,
                Run.status == "succeeded",
                Run.dry_run.is_(False),
                Run.id != run.id,
            )
            .distinct()
        )
        priority = sorted(row[m] for m in earlier if m in row)

    return _Cohort(
        organization_id=run.organization_id,
        program_id=program.id,
        config=config,
        objective=run.objective,
        weights=dict(active_weights.weights) if active_weights else None,
        weights_version=active_weights.version if active_weights else None,
        mentee_ids=[p.id for p in mentees],
        mentor_ids=[p.id for p in mentors],
        mentees=[profile(p) for p in mentees],
        mentors=mentor_profiles,
        capacity=capacity,
        exclude_pairs=exclude,
        pins=pins,
        priority_rows=np.array(priority, dtype=np.int64),
        priority_bonus=bonus,
        info={
            "already_matched": already_matched,
            "published_kept": len(published),
            "proposals_kept": len(pending),
            "capacity_used_by_published": sum(used.values()),
        },
    )


_PIN_PROBLEMS = {
    "not_allowed": "is not allowed by the hard constraints (a required criterion, an "
    "exclusion, or an inactive participant)",
    "over_capacity": "has more pins than free places",
    "duplicate_mentee": "is pinned more than once",
    "out_of_range": "is not in this run's cohort",
}


def _matcher_refusal(exc: matcher.MatcherError, cohort: _Cohort) -> str:
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
    cohort: _Cohort,
    result: pipeline.CohortResult,
    seconds: dict[str, float],
    started: float,
) -> None:
    with session_factory() as session:
        run = session.scalars(select(Run).where(Run.id == run_id).with_for_update()).one()
        if run.status != "running":
            raise RunError(f"run was marked {run.status} meanwhile ({run.error}); results dropped")
        t0 = time.perf_counter()
        now = _now()
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
                "status": "proposed",
                "score": float(e.score),
                "breakdown": list(e.breakdown),
                "reasons": list(e.reasons),
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            for i, j, e in zip(result.mentee, result.mentor, result.explanations, strict=True)
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
        for table, rows in ((Match.__table__, matches), (UnmatchedMentee.__table__, unmatched)):
            for k in range(0, len(rows), INSERT_BATCH):
                session.execute(table.insert(), rows[k : k + INSERT_BATCH])
        seconds["persist"] = time.perf_counter() - t0
        seconds["total"] = time.perf_counter() - started
        run.status, run.progress = "succeeded", 1.0
        run.weights_version = cohort.weights_version
        run.stats = {
            **result.stats,
            **cohort.info,
            "weights_version": cohort.weights_version,
            "seconds": {k: round(v, 4) for k, v in seconds.items()},
        }
        run.finished_at, run.lease_expires_at = _now(), None
        session.commit()


def _mark_failed(session_factory: SessionFactory, run_id: uuid.UUID, reason: str) -> None:
    with session_factory() as session:
        session.execute(
            update(Run)
            .where(Run.id == run_id, Run.status.in_(("queued", "running")))
            .values(status="failed", error=reason[:2000], finished_at=_now(), lease_expires_at=None)
        )
        session.commit()


def execute_run(
    session_factory: SessionFactory,
    run_id: uuid.UUID,
    *,
    tools: pipeline.Toolkit = pipeline.DEFAULT_TOOLKIT,
    lease: float | None = None,
    dense_pair_limit: int = pipeline.DENSE_PAIR_LIMIT,
) -> str:
    """Run the queued run ``run_id`` to its end and return its final status.

    A run that is not ``queued`` any more (done, failed, or claimed by another
    worker) is left alone. Any exception fails the run with the reason; nothing
    of its proposals is written then.
    """
    lease = lease_seconds() if lease is None else lease
    started = time.perf_counter()
    if not _claim(session_factory, run_id, lease):
        with session_factory() as session:
            status = session.scalar(select(Run.status).where(Run.id == run_id))
        return status or "missing"
    seconds: dict[str, float] = {}
    try:
        with _Heartbeat(session_factory, run_id, lease) as heartbeat:
            with session_factory() as session:
                session.connection(execution_options={"sqlite_begin": "DEFERRED"})
                cohort = _load(session, run_id)
            seconds["load"] = time.perf_counter() - started
            heartbeat.update(progress=PROGRESS["loaded"])
            try:
                result = pipeline.match_cohort(
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
                    tools=tools,
                    on_phase=lambda phase: heartbeat.update(progress=PROGRESS[phase]),
                )
            except matcher.MatcherError as exc:
                reason = _matcher_refusal(exc, cohort)
                raise RunError(f"the matcher refused the run: {reason}") from exc
            seconds.update(result.seconds)
            _persist(session_factory, run_id, cohort, result, seconds, started)
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
        return "failed"
    log.info("run succeeded", extra={"run_id": str(run_id)})
    return "succeeded"

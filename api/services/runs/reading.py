"""Reading runs: one, a program's list, two runs compared side by side, and waiting.

Called by the runs views; compare is the what-if screen's (a dry run against the
real one, say). :func:`wait_for_finish` is the trigger's ``?wait``: it polls a
committed run and, if the database fails meanwhile, hands back the run as last read
instead of an error, so that the client always learns the run's id.
:func:`retry_after_seconds` tells a client when polling an active run is worth it.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.services.context import Actor
from api.services.errors import NotFound
from api.services.lookup import get_owned, get_program, profile
from api.services.pagination import Page, paginate
from api.services.runs.execution import expire_stale_runs
from models import Match, Participant, Run
from models.vocabulary import RUN_ACTIVE_STATUSES, MatchStatus, RunStatus

log = logging.getLogger("mentormatch.runs")

MAX_COMPARE_PAIRS = 500
#: ``Retry-After`` for a queued run, or a running one too young to extrapolate.
RETRY_AFTER_DEFAULT = 2
#: Bounds of a ``Retry-After`` estimated from a running run's progress.
RETRY_AFTER_MIN, RETRY_AFTER_MAX = 1, 30


def get_run(session: Session, actor: Actor, program_id: uuid.UUID, run_id: uuid.UUID) -> Run:
    """A run of the actor's organization, of this (live) program; failed at once if its
    lease expired (:func:`expire_on_read`)."""
    get_program(session, actor, program_id)
    run = get_owned(session, Run, run_id, actor, program_id=program_id)
    expire_on_read(session, [run])
    return run


def expire_on_read(session: Session, shown: Sequence[Run]) -> None:
    """Fail the shown runs whose lease expired, in a small transaction of their own.

    A dead worker's run reads as failed at once, not after the next sweep or trigger.
    The read's transaction is ended first (it may be a read-only one on SQLite); the
    rows are refreshed after the commit.
    """
    now = datetime.now(UTC)
    stale = [
        run
        for run in shown
        if run.status in RUN_ACTIVE_STATUSES
        and run.lease_expires_at is not None
        and run.lease_expires_at < now
    ]
    if not stale:
        return
    session.rollback()  # a fresh write transaction (IMMEDIATE on SQLite)
    expire_stale_runs(session, now=now, among=[run.id for run in stale])
    session.commit()
    for run in stale:
        session.refresh(run)


def list_runs(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    *,
    limit: int = 100,
    cursor: str | None = None,
) -> Page[Run]:
    """The program's runs, oldest first (keyset pagination)."""
    get_program(session, actor, program_id)
    stmt = select(Run).where(Run.program_id == program_id)
    page = paginate(session, stmt, Run.created_at, Run.id, limit=limit, cursor=cursor)
    expire_on_read(session, page.items)
    return page


def _pairs(session: Session, run_id: uuid.UUID) -> dict[tuple[uuid.UUID, uuid.UUID], float]:
    return {
        (mentee, mentor): score
        for mentee, mentor, score in session.execute(
            select(Match.mentee_id, Match.mentor_id, Match.score).where(
                Match.run_id == run_id, Match.status != MatchStatus.REJECTED
            )
        )
    }


def _summary(run: Run, pairs: Mapping[Any, float]) -> dict[str, Any]:
    scores = list(pairs.values())
    n_mentees = int((run.stats or {}).get("n_mentees", 0))
    return {
        "id": run.id,
        "status": run.status,
        "dry_run": run.dry_run,
        "objective": run.objective,
        "scope": run.scope,
        "matched": len(scores),
        "n_mentees": n_mentees,
        "coverage": len(scores) / n_mentees if n_mentees else 0.0,
        "score_total": float(sum(scores)),
        "score_mean": float(sum(scores) / len(scores)) if scores else None,
        "score_min": float(min(scores)) if scores else None,
    }


def compare_runs(
    session: Session, actor: Actor, program_id: uuid.UUID, run_id: uuid.UUID, other_id: uuid.UUID
) -> dict[str, Any]:
    """Two runs of one program side by side: totals, coverage, scores, differing pairs."""
    run_a = get_run(session, actor, program_id, run_id)
    run_b = get_run(session, actor, program_id, other_id)
    pairs_a, pairs_b = _pairs(session, run_a.id), _pairs(session, run_b.id)
    only_a = sorted(set(pairs_a) - set(pairs_b), key=lambda p: -pairs_a[p])
    only_b = sorted(set(pairs_b) - set(pairs_a), key=lambda p: -pairs_b[p])
    shown = {x for p in only_a[:MAX_COMPARE_PAIRS] + only_b[:MAX_COMPARE_PAIRS] for x in p}
    # Through profile(): an erased participant shows no external id.
    ext = {
        p.id: profile(p)["external_id"]
        for p in session.scalars(select(Participant).where(Participant.id.in_(shown)))
    }

    def listed(pairs: list[Any], scores: Mapping[Any, float]) -> list[dict[str, Any]]:
        return [
            {
                "mentee": {"id": mentee, "external_id": ext.get(mentee)},
                "mentor": {"id": mentor, "external_id": ext.get(mentor)},
                "score": scores[(mentee, mentor)],
            }
            for mentee, mentor in pairs[:MAX_COMPARE_PAIRS]
        ]

    a, b = _summary(run_a, pairs_a), _summary(run_b, pairs_b)
    return {
        "a": a,
        "b": b,
        "difference": {
            "score_total": b["score_total"] - a["score_total"],
            "matched": b["matched"] - a["matched"],
            "coverage": b["coverage"] - a["coverage"],
        },
        "common": len(set(pairs_a) & set(pairs_b)),
        "only_in_a_count": len(only_a),
        "only_in_b_count": len(only_b),
        "only_in_a": listed(only_a, pairs_a),
        "only_in_b": listed(only_b, pairs_b),
    }


def retry_after_seconds(run: Run, *, now: datetime | None = None) -> int:
    """Seconds until polling ``run`` again is worth it (the ``Retry-After`` header).

    A running run's remaining time is extrapolated from its progress so far
    (``elapsed * (1 - progress) / progress``), within [1, 30] seconds; a queued run,
    or one without progress or start time yet, gets :data:`RETRY_AFTER_DEFAULT`.
    """
    if run.status != RunStatus.RUNNING or run.started_at is None or run.progress <= 0:
        return RETRY_AFTER_DEFAULT
    started = run.started_at
    if started.tzinfo is None:  # SQLite hands back naive UTC datetimes
        started = started.replace(tzinfo=UTC)
    elapsed = max(0.0, ((now or datetime.now(UTC)) - started).total_seconds())
    remaining = elapsed * (1.0 - min(run.progress, 1.0)) / run.progress
    return max(RETRY_AFTER_MIN, min(RETRY_AFTER_MAX, math.ceil(remaining)))


def retry_after_active(session: Session, run_id: uuid.UUID) -> int:
    """:func:`retry_after_seconds` of the active run a trigger's 409 names (read anew:
    the trigger's transaction was rolled back)."""
    session.rollback()
    run = session.get(Run, run_id)
    return retry_after_seconds(run) if run is not None else RETRY_AFTER_DEFAULT


def wait_for_finish(session: Session, run: Run, *, timeout: float, interval: float = 0.1) -> Run:
    """Poll the committed ``run`` until it finished or ``timeout`` seconds passed.

    Each read is detached from the session, so that it stays readable whatever
    happens next. A database error during the wait ends it: the run is returned as
    last read (and the error logged), never raised, because the run exists and the
    client must learn where to find it.
    """
    deadline = time.monotonic() + timeout
    last = run
    if last in session:
        session.expunge(last)
    while True:
        try:
            session.rollback()  # end the previous read: a fresh snapshot, no lock held asleep
            session.connection(execution_options={"sqlite_begin": "DEFERRED"})
            fresh = session.get(Run, last.id, populate_existing=True)
        except SQLAlchemyError as exc:
            log.warning(
                "the wait for a run was interrupted by a database error: %s",
                type(exc).__name__,
                extra={"run_id": str(last.id)},
            )
            _discard_transaction(session)
            return last
        if fresh is None:  # deleted with its program meanwhile
            raise NotFound("run", last.id)
        session.expunge(fresh)
        last = fresh
        if last.status not in RUN_ACTIVE_STATUSES or time.monotonic() >= deadline:
            return last
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        interval = min(interval * 1.5, 1.0)


def _discard_transaction(session: Session) -> None:
    """Roll back after a failed read; a connection gone for good is invalidated."""
    try:
        session.rollback()
    except SQLAlchemyError:
        session.invalidate()

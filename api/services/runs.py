"""Matching runs: trigger one, read them, compare two, and expire runs whose worker died.

A run is created ``queued`` by :func:`start_run` (validated, audited, committed once),
then executed by :func:`execute_run` (:mod:`api.services.execution`) on a worker.
One run per program may be active (queued or running); the database enforces it
with a partial unique index, this module turns a violation into a 409 naming
the active run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.services import audit, matches
from api.services.context import Actor
from api.services.errors import Conflict, NotFound, ValidationFailed
from api.services.execution import execute_run
from api.services.lookup import config_of, get_owned, get_program, profile
from api.services.pagination import Page, paginate
from models import RUN_ACTIVE_STATUSES, Match, Participant, Program, Run
from scoring import ConfigError, validate_config
from scoring.config import OBJECTIVES

__all__ = [
    "OBJECTIVES",
    "SCOPES",
    "ActiveRunConflict",
    "compare_runs",
    "execute_run",
    "expire_stale_runs",
    "get_run",
    "list_runs",
    "start_run",
    "wait_for_run",
]

SCOPES = ("all", "unmatched")
#: A queued run no worker picked up within this time is failed, freeing the program.
QUEUE_TIMEOUT = timedelta(hours=1)
MAX_WAIT_SECONDS = 60.0
MAX_COMPARE_PAIRS = 500


class ActiveRunConflict(Conflict):
    """A second run while one is active; the problem body names the active run."""

    def __init__(self, active_run_id: uuid.UUID) -> None:
        super().__init__(
            f"run {active_run_id} is still active for this program; "
            "wait for it to finish before starting another"
        )
        self.extra = {"active_run_id": str(active_run_id)}


def _now() -> datetime:
    return datetime.now(UTC)


def expire_stale_runs(session: Session, *, now: datetime | None = None) -> list[uuid.UUID]:
    """Fail every active run whose lease expired (its worker died, or none ever took it).

    Runs in the caller's transaction; the caller commits.
    """
    now = now or _now()
    stale = session.execute(
        select(Run.id, Run.status, Run.lease_expires_at).where(
            Run.status.in_(RUN_ACTIVE_STATUSES),
            Run.lease_expires_at.is_not(None),
            Run.lease_expires_at < now,
        )
    ).all()
    for run_id, status, expired_at in stale:
        stamp = expired_at.astimezone(UTC).isoformat(timespec="seconds")
        reason = (
            f"worker lost: lease expired at {stamp}"
            if status == "running"
            else f"never picked up by a worker: queued until {stamp}"
        )
        session.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == status)
            .values(status="failed", error=reason, finished_at=now, lease_expires_at=None)
        )
    return [row[0] for row in stale]


def _active_run_id(session: Session, program_id: uuid.UUID) -> uuid.UUID | None:
    return session.scalars(
        select(Run.id).where(Run.program_id == program_id, Run.status.in_(RUN_ACTIVE_STATUSES))
    ).first()


def _validate_pins(
    session: Session, program: Program, pins: Iterable[Sequence[str]], config: Mapping[str, Any]
) -> list[list[str]]:
    """Check the admin's pins before the run is queued, naming each by external ids.

    Each pin must name an active mentee without a published match (no run re-matches
    one, whatever the scope) and an active mentor; it must pass the hard constraints
    of ``config`` (required criteria, exclusions), checked by the same single-pair
    scoring as an edit (:func:`api.services.matches.explain_pairs`); and no mentor may
    be pinned more often than they have free places. A pin overrides only the rule
    that a previous pair is never proposed again.
    """
    pairs = [list(p) for p in pins]
    errors: dict[str, list[str]] = {}
    wanted = {x for p in pairs for x in p if isinstance(x, str)}
    found = (
        {
            p.external_id: p
            for p in session.scalars(
                select(Participant).where(
                    Participant.program_id == program.id,
                    Participant.external_id.in_(wanted),
                    Participant.erased_at.is_(None),
                )
            )
        }
        if wanted
        else {}
    )
    published = set(
        session.scalars(
            select(Match.mentee_id).where(
                Match.program_id == program.id,
                Match.status == "published",
                Match.mentee_id.in_([p.id for p in found.values() if p.role == "mentee"]),
            )
        )
        if found
        else ()
    )
    seen: set[str] = set()
    valid: list[tuple[int, Participant, Participant]] = []
    for k, pair in enumerate(pairs):
        problems = []
        if len(pair) != 2 or not all(isinstance(x, str) for x in pair):
            errors[f"pins.{k}"] = ["expected [mentee external_id, mentor external_id]"]
            continue
        for ext, role in zip(pair, ("mentee", "mentor"), strict=True):
            if ext not in found:
                problems.append(f"no participant with external_id {ext!r} in this program")
            elif found[ext].role != role:
                problems.append(f"{ext!r} is a {found[ext].role}, expected a {role}")
            elif not found[ext].active:
                problems.append(f"{ext!r} is not active")
        mentee = pair[0]
        if mentee in seen:
            problems.append(f"mentee {mentee!r} is pinned more than once")
        seen.add(mentee)
        if mentee in found and found[mentee].id in published:
            problems.append(
                f"mentee {mentee!r} already has a published match; runs never re-match it"
            )
        if problems:
            errors[f"pins.{k}"] = problems
        else:
            valid.append((k, found[pair[0]], found[pair[1]]))

    if valid:
        weights = matches.active_weights(session, program.id)
        explained = matches.explain_pairs(
            session,
            program,
            [(mentee, mentor) for _, mentee, mentor in valid],
            config=dict(config),
            weights=dict(weights.weights) if weights else None,
        )
        for (k, _, _), explanation in zip(valid, explained, strict=True):
            if not explanation.allowed:
                errors[f"pins.{k}"] = [
                    f"pin {pairs[k]!r} is not allowed: {why}" for why in explanation.blocked_by
                ]
        pinned: dict[uuid.UUID, list[int]] = {}
        for k, _, mentor in valid:
            pinned.setdefault(mentor.id, []).append(k)
        for k, _, mentor in valid:
            free = max(matches.capacity_of(mentor, dict(config)) - mentor.published_load, 0)
            if k == pinned[mentor.id][-1] and len(pinned[mentor.id]) > free:
                errors.setdefault(f"pins.{k}", []).append(
                    f"mentor {mentor.external_id!r} is pinned {len(pinned[mentor.id])} "
                    f"times but has {free} free place(s)"
                )
    if errors:
        raise ValidationFailed(errors)
    return pairs


def _validate_overrides(
    current: Mapping[str, Any], overrides: Mapping[str, Any] | None, dry_run: bool
) -> dict[str, Any] | None:
    if overrides is None:
        return None
    if not dry_run:
        raise ValidationFailed(
            {
                "config": [
                    "configuration overrides need dry_run: true; "
                    "change the program's configuration to use them for real"
                ]
            }
        )
    try:
        validate_config({**current, **overrides})
    except ConfigError as exc:
        errors = {f"config.{k}" if k else "config": v for k, v in exc.errors.items()}
        raise ValidationFailed(errors) from None
    return dict(overrides)


def start_run(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    *,
    scope: str = "all",
    pins: Iterable[Sequence[str]] = (),
    objective: str | None = None,
    dry_run: bool = False,
    config_overrides: Mapping[str, Any] | None = None,
    priority_unmatched: float = 0.0,
    enqueue: Callable[[uuid.UUID], None] | None = None,
    wait: float = 0.0,
) -> Run:
    """Validate and queue a run (audited as ``run.triggered``), then hand it to ``enqueue``.

    With ``wait`` > 0, poll up to that many seconds (at most 60) for the run to finish
    and return it as it stands then.
    """
    program = get_program(session, actor, program_id)
    errors: dict[str, list[str]] = {}
    if scope not in SCOPES:
        errors["scope"] = [f"expected one of {', '.join(SCOPES)}, got {scope!r}"]
    if objective is not None and objective not in OBJECTIVES:
        errors["objective"] = [f"expected one of {', '.join(OBJECTIVES)}, got {objective!r}"]
    if not 0.0 <= priority_unmatched <= 1.0:
        errors["priority_unmatched"] = [f"expected a number in [0, 1], got {priority_unmatched}"]
    if errors:
        raise ValidationFailed(errors)
    current = config_of(session, program)
    overrides = _validate_overrides(current, config_overrides, dry_run)
    effective = {**current, **(overrides or {})}
    pin_pairs = _validate_pins(session, program, pins, validate_config(effective))

    now = _now()
    expire_stale_runs(session, now=now)
    active = _active_run_id(session, program.id)
    if active is not None:
        raise ActiveRunConflict(active)
    run = Run(
        id=uuid.uuid4(),
        organization_id=actor.organization_id,
        program_id=program.id,
        status="queued",
        scope=scope,
        objective=objective or effective.get("objective") or "total",
        dry_run=dry_run,
        options={
            "pins": pin_pairs,
            "config": overrides,
            "priority_unmatched": priority_unmatched,
        },
        triggered_by=actor.admin_id,
        config_version=program.config_version,
        weights_version=None,
        progress=0.0,
        stats={},
        created_at=now,
        lease_expires_at=now + QUEUE_TIMEOUT,
    )
    session.add(run)
    try:
        session.flush()
    except IntegrityError:
        # Another trigger won the race; the partial unique index said no.
        session.rollback()
        active = _active_run_id(session, program.id)
        raise ActiveRunConflict(active or uuid.UUID(int=0)) from None
    audit.record(
        session,
        actor,
        "run.triggered",
        program_id=program.id,
        target_type="run",
        target_ids=[run.id],
        details={
            "scope": scope,
            "objective": run.objective,
            "dry_run": dry_run,
            "pins": len(pin_pairs),
            "config_version": program.config_version,
        },
    )
    session.commit()
    if enqueue is not None:
        try:
            enqueue(run.id)
        except Exception as exc:
            # The message may hold the queue's address and credentials: the class only.
            _fail(
                session,
                run.id,
                f"could not queue the run: {type(exc).__name__}; "
                f"see the server log (run_id {run.id})",
            )
            raise
    if wait > 0:
        return wait_for_run(session, run.id, timeout=min(wait, MAX_WAIT_SECONDS))
    return run


def _fail(session: Session, run_id: uuid.UUID, reason: str) -> None:
    session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status.in_(RUN_ACTIVE_STATUSES))
        .values(status="failed", error=reason[:2000], finished_at=_now(), lease_expires_at=None)
    )
    session.commit()


def wait_for_run(
    session: Session, run_id: uuid.UUID, *, timeout: float, interval: float = 0.1
) -> Run:
    """Poll until the run finished or ``timeout`` seconds passed; return it as it is."""
    deadline = time.monotonic() + timeout
    while True:
        session.rollback()  # end the previous read: a fresh snapshot, no lock held while asleep
        session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        run = session.get(Run, run_id, populate_existing=True)
        if run is None:
            raise NotFound("run", run_id)
        if run.status not in RUN_ACTIVE_STATUSES or time.monotonic() >= deadline:
            return run
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        interval = min(interval * 1.5, 1.0)


def get_run(session: Session, actor: Actor, program_id: uuid.UUID, run_id: uuid.UUID) -> Run:
    get_program(session, actor, program_id)
    return get_owned(session, Run, run_id, actor, program_id=program_id)


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
    return paginate(session, stmt, Run.created_at, Run.id, limit=limit, cursor=cursor)


def _pairs(session: Session, run_id: uuid.UUID) -> dict[tuple[uuid.UUID, uuid.UUID], float]:
    return {
        (mentee, mentor): score
        for mentee, mentor, score in session.execute(
            select(Match.mentee_id, Match.mentor_id, Match.score).where(
                Match.run_id == run_id, Match.status != "rejected"
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

"""Pressing "run matching": validate the request, queue the run, optionally wait.

:func:`start_run` (called by the runs view and the tests) checks the scope, the
objective, the pins and a dry run's config overrides, creates the run ``queued``
with its :class:`~api.services.runs.options.RunOptions`, audits ``run.triggered``
and commits once, then hands the run's id to the queue (``enqueue``). One run per
program may be active (queued or running); the database enforces it with a partial
unique index, and this module turns a violation into a 409 naming the active run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import matcher
from api.services import audit, eligibility
from api.services.context import Actor
from api.services.errors import Conflict, ValidationFailed
from api.services.lookup import config_of, get_program
from api.services.runs.execution import QUEUE_TIMEOUT, expire_stale_runs
from api.services.runs.options import Pin, RunOptions
from models import Participant, Program, Run
from models.vocabulary import RUN_ACTIVE_STATUSES, Objective, Role, RunStatus, Scope
from scoring import ConfigError, validate_config

MAX_WAIT_SECONDS = 60.0


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


def _active_run_id(session: Session, program_id: uuid.UUID) -> uuid.UUID | None:
    return session.scalars(
        select(Run.id).where(Run.program_id == program_id, Run.status.in_(RUN_ACTIVE_STATUSES))
    ).first()


def _validate_pins(
    session: Session, program: Program, pins: Iterable[Sequence[str]], config: Mapping[str, Any]
) -> tuple[Pin, ...]:
    """Check the admin's pins before the run is queued, naming each by external ids.

    Each pin must name an active mentee and an active mentor (rule 5 of
    :mod:`api.services.eligibility`) not published together, no pair twice, and no
    mentee or mentor pinned more often than they have free places (rules 2 and 3);
    it must pass the hard constraints of ``config``, checked as an edit checks them
    (:func:`~api.services.eligibility.explain_pairs`). A pin overrides only rule 4:
    a pair published and ended, or rejected, before may be pinned.
    """
    pairs = [list(p) for p in pins]
    errors: dict[str, list[str]] = {}
    found = _pinned_people(session, program.id, pairs)
    published = set(eligibility.published_pairs(session, program.id))
    seen: set[tuple[str, str]] = set()
    valid: list[tuple[int, Participant, Participant]] = []
    for k, pair in enumerate(pairs):
        if len(pair) != 2 or not all(isinstance(x, str) for x in pair):
            errors[f"pins.{k}"] = ["expected [mentee external_id, mentor external_id]"]
            continue
        problems = [
            problem
            for ext, role in zip(pair, (Role.MENTEE, Role.MENTOR), strict=True)
            if (problem := _pin_problem(found.get(ext), ext, role))
        ]
        if (pair[0], pair[1]) in seen:
            problems.append(f"pair {pair!r} is pinned more than once")
        seen.add((pair[0], pair[1]))
        if not problems and (found[pair[0]].id, found[pair[1]].id) in published:
            problems.append(f"pair {pair!r} is already published; a pair is published once")
        if problems:
            errors[f"pins.{k}"] = problems
        else:
            valid.append((k, found[pair[0]], found[pair[1]]))
    if valid:
        _check_pinned_pairs(session, program, valid, pairs, config, errors)
        _check_pinned_places(valid, config, errors)
    if errors:
        raise ValidationFailed(errors)
    return tuple((a, b) for a, b in pairs)


def _pinned_people(
    session: Session, program_id: uuid.UUID, pairs: list[list[Any]]
) -> dict[str, Participant]:
    wanted = {x for p in pairs for x in p if isinstance(x, str)}
    if not wanted:
        return {}
    rows = session.scalars(
        select(Participant).where(
            Participant.program_id == program_id,
            Participant.external_id.in_(wanted),
            Participant.erased_at.is_(None),
        )
    )
    return {p.external_id: p for p in rows if p.external_id is not None}


def _pin_problem(person: Participant | None, ext: str, role: Role) -> str | None:
    if person is None:
        return f"no participant with external_id {ext!r} in this program"
    if person.role != role:
        return f"{ext!r} is a {person.role}, expected a {role}"
    if not person.active:
        return f"{ext!r} is not active"
    return None


def _check_pinned_pairs(
    session: Session,
    program: Program,
    valid: list[tuple[int, Participant, Participant]],
    pairs: list[list[Any]],
    config: Mapping[str, Any],
    errors: dict[str, list[str]],
) -> None:
    """Hard constraints and free places of the well-formed pins, into ``errors``."""
    explained = eligibility.explain_pairs(
        session,
        program.id,
        [(mentee, mentor) for _, mentee, mentor in valid],
        config=config,
        weights=eligibility.scoring_weights(
            config, eligibility.active_weights(session, program.id)
        ),
    )
    for (k, _, _), explanation in zip(valid, explained, strict=True):
        if not explanation.allowed:
            errors[f"pins.{k}"] = [
                f"pin {pairs[k]!r} is not allowed: {why}" for why in explanation.blocked_by
            ]


def _check_pinned_places(
    valid: list[tuple[int, Participant, Participant]],
    config: Mapping[str, Any],
    errors: dict[str, list[str]],
) -> None:
    """No mentee or mentor pinned more often than the places their published matches
    leave them (:func:`~api.services.eligibility.free_places`, as an edit and a
    recommendation count them), into ``errors``."""
    for side in (0, 1):  # the mentee's places, then the mentor's
        pinned: dict[uuid.UUID, list[int]] = {}
        for k, *pair in valid:
            pinned.setdefault(pair[side].id, []).append(k)
        for k, *pair in valid:
            person = pair[side]
            free = eligibility.free_places(person, config)
            if k == pinned[person.id][-1] and len(pinned[person.id]) > free:
                errors.setdefault(f"pins.{k}", []).append(
                    f"{person.role} {person.external_id!r} is pinned "
                    f"{len(pinned[person.id])} times but has {free} free place(s)"
                )


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
    scope: str = Scope.ALL,
    pins: Iterable[Sequence[str]] = (),
    objective: str | None = None,
    dry_run: bool = False,
    config_overrides: Mapping[str, Any] | None = None,
    priority_unmatched: float = 0.0,
    tolerance: float | None = None,
    enqueue: Callable[[uuid.UUID], None] | None = None,
) -> Run:
    """Validate and queue a run (audited as ``run.triggered``), then hand it to ``enqueue``.

    ``pins``, ``config_overrides`` (a dry run's replacement configuration keys) and
    ``priority_unmatched`` and ``tolerance`` (the relative optimality gap the run
    accepts, in [0, 1), replacing the configuration's; the matcher must support it
    for the run's objective and capacities: :func:`_check_tolerance`) are stored as
    the run's :class:`RunOptions`.

    Waiting for it is :func:`api.services.runs.reading.wait_for_finish`.
    """
    program = get_program(session, actor, program_id)
    _check_choices(scope, objective, priority_unmatched, tolerance)
    current = config_of(session, program)
    overrides = _validate_overrides(current, config_overrides, dry_run)
    effective = validate_config({**current, **(overrides or {})})
    _check_tolerance(
        session,
        program.id,
        effective,
        objective or effective["objective"],
        effective["tolerance"] if tolerance is None else tolerance,
    )
    options = RunOptions(
        pins=_validate_pins(session, program, pins, effective),
        config_overrides=overrides,
        priority_unmatched=priority_unmatched,
        tolerance=tolerance,
    )

    now = _now()
    expire_stale_runs(session, now=now)
    active = _active_run_id(session, program.id)
    if active is not None:
        raise ActiveRunConflict(active)
    run = Run(
        id=uuid.uuid4(),
        organization_id=actor.organization_id,
        program_id=program.id,
        status=RunStatus.QUEUED,
        scope=scope,
        objective=objective or effective.get("objective") or Objective.TOTAL,
        dry_run=dry_run,
        options=options.to_json(),
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
            "pins": len(options.pins),
            "config_version": program.config_version,
        },
    )
    session.commit()
    if enqueue is not None:
        _enqueue(session, run.id, enqueue)
    return run


def _check_choices(
    scope: str, objective: str | None, priority_unmatched: float, tolerance: float | None
) -> None:
    errors: dict[str, list[str]] = {}
    if scope not in tuple(Scope):
        errors["scope"] = [f"expected one of {', '.join(Scope)}, got {scope!r}"]
    if objective is not None and objective not in tuple(Objective):
        errors["objective"] = [f"expected one of {', '.join(Objective)}, got {objective!r}"]
    if not 0.0 <= priority_unmatched <= 1.0:
        errors["priority_unmatched"] = [f"expected a number in [0, 1], got {priority_unmatched}"]
    if tolerance is not None and not 0.0 <= tolerance < 1.0:
        errors["tolerance"] = [f"expected a number in [0, 1), got {tolerance}"]
    if errors:
        raise ValidationFailed(errors)


def _check_tolerance(
    session: Session,
    program_id: uuid.UUID,
    config: Mapping[str, Any],
    objective: str,
    tolerance: float,
) -> None:
    """A 422 on ``tolerance`` when the matcher would refuse it for this run: it is the
    matcher's own check, asked on a 1 x 1 problem of the run's kind (its objective;
    several places per mentee or ``spread``, whose b-matching is always certified)."""
    if tolerance == 0:
        return
    several = config["default_mentee_capacity"] > 1 or (
        session.scalar(
            select(Participant.id)
            .where(
                Participant.program_id == program_id,
                Participant.role == Role.MENTEE,
                Participant.active.is_(True),
                Participant.capacity > 1,
            )
            .limit(1)
        )
        is not None
    )
    try:
        matcher.assign(
            np.zeros((1, 1)),
            objective=objective,
            tolerance=tolerance,
            mentee_capacity=2 if several else 1,
            spread=1.0 if config["spread"] else 0.0,
        )
    except matcher.InvalidToleranceError as exc:
        raise ValidationFailed(
            {"tolerance": [f"the matcher cannot use tolerance {tolerance} for this run: {exc}"]}
        ) from None


def _enqueue(session: Session, run_id: uuid.UUID, enqueue: Callable[[uuid.UUID], None]) -> None:
    """Hand the committed run to the queue; if that fails, fail the run and re-raise."""
    try:
        enqueue(run_id)
    except Exception as exc:
        # The message may hold the queue's address and credentials: the class only.
        _fail(
            session,
            run_id,
            f"could not queue the run: {type(exc).__name__}; see the server log (run_id {run_id})",
        )
        raise


def _fail(session: Session, run_id: uuid.UUID, reason: str) -> None:
    session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status.in_(RUN_ACTIVE_STATUSES))
        .values(
            status=RunStatus.FAILED, error=reason[:2000], finished_at=_now(), lease_expires_at=None
        )
    )
    session.commit()

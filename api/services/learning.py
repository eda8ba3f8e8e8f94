"""The feedback loop: weights versions of a program, learned from realized outcomes.

- **Version 1 is the admin's prior**: the criterion weights of the program's current
  configuration, ``source: "prior"``, created on first use (listing or learning) and
  active while no other version is.
- **Learning** (:func:`learn_weights`) takes every published or ended match of the
  program that has an outcome; the latest outcome of a match is its realized success
  (:func:`scoring.realized_success` with ``config.success``; unknown ones are
  dropped). The features are the per-criterion similarities stored in each match's
  breakdown when it was proposed (never recomputed from profiles that changed since),
  in the current configuration's criterion order; a match whose breakdown lacks a
  criterion is left out. :class:`scoring.WeightLearner` fits non-negative weights
  shrunk toward the active weights, and :func:`scoring.evaluate` cross-validates
  them against the active weights (Spearman rank correlation with realized success,
  fixed folds: :data:`RANDOM_STATE`).
- **Activation**: a learned version activates itself only when it ranks realized
  success better than the active weights by at least :data:`ACTIVATION_MARGIN`;
  otherwise it is stored inactive and its evaluation says why. An admin may activate
  any version (:func:`activate_weights`; activating an older one is the rollback).
  A partial unique index keeps one active version per program.
- **Predicted success**: with at least :data:`scoring.MIN_SAMPLES` usable outcomes, a
  run calibrates realized success on the past matches' scores
  (:func:`calibration_data`, :class:`scoring.SuccessCalibrator`).

Every learn and every activation is audited (ids and numbers only).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import scoring
from api.services import audit, eligibility
from api.services.context import Actor
from api.services.errors import Conflict, NotFound
from api.services.lookup import config_of, get_program
from api.services.pagination import Page, paginate
from models import Admin, Match, Outcome, Program, WeightsVersion
from models.vocabulary import MatchStatus, WeightsSource
from scoring.outcomes import OUTCOME_FIELDS

F64 = npt.NDArray[np.float64]

#: A learned version activates itself only if its cross-validated Spearman correlation
#: with realized success beats the active weights' by at least this much: below it the
#: difference is within the noise of five folds, and switching would churn the weights.
ACTIVATION_MARGIN = 0.02
#: Cross-validation folds, and the seed that draws them: the same outcomes always give
#: the same evaluation.
CV_FOLDS = 5
RANDOM_STATE = 0
#: The version column is a 32-bit integer: a larger number names no version.
MAX_VERSION = 2**31 - 1
#: Matches whose pair really met: only these have outcomes to learn from.
LEARNABLE = (MatchStatus.PUBLISHED, MatchStatus.ENDED)


class NotEnoughOutcomes(Conflict):
    """Too few usable outcomes to learn from; the problem body carries the numbers."""

    title = "Not enough outcomes"

    def __init__(self, have: int, need: int, left_out: int) -> None:
        detail = f"not enough outcomes to learn from: have {have}, need at least {need}"
        if left_out:
            detail += (
                f" ({left_out} more matches have outcomes whose success is unknown or "
                "whose breakdown lacks a current criterion)"
            )
        super().__init__(detail)
        self.extra = {"have": have, "need": need}


# ----------------------------------------------------------------- past outcomes


@dataclass(frozen=True)
class PastMatches:
    """The program's matches with a known realized success, one row each.

    ``match_ids`` (n), ``score`` (n,) and ``success`` (n,) in [0, 1];
    ``similarities`` (n, n_criteria) in the configuration's criterion order, for the
    rows in ``complete`` (n,) only (the others' breakdown lacks a criterion, and their
    rows are zeros).
    """

    match_ids: list[uuid.UUID]
    score: F64
    success: F64
    similarities: F64
    complete: npt.NDArray[np.bool_]
    with_outcome: int  # matches with any outcome, before dropping the unknown ones


def past_matches(session: Session, program_id: uuid.UUID, config: dict[str, Any]) -> PastMatches:
    """The published or ended matches of a program with their latest outcome's success."""
    columns = [getattr(Outcome, name) for name in OUTCOME_FIELDS]
    rows = session.execute(
        select(Match.id, Match.score, Match.breakdown, *columns)
        .join(Outcome, Outcome.match_id == Match.id)
        .where(Match.program_id == program_id, Match.status.in_(LEARNABLE))
        .order_by(Match.id, Outcome.recorded_at, Outcome.id)
    ).all()
    latest = {row.id: row for row in rows}  # ordered by time: the last record wins
    records = [{name: getattr(row, name) for name in OUTCOME_FIELDS} for row in latest.values()]
    success = (
        scoring.realized_success(records, params=config.get("success")) if records else np.zeros(0)
    )
    known = ~np.isnan(success)
    kept = [row for row, ok in zip(latest.values(), known, strict=True) if ok]
    names = [c["name"] for c in config["criteria"]]
    sims = np.zeros((len(kept), len(names)))
    complete = np.zeros(len(kept), dtype=bool)
    for i, row in enumerate(kept):  # one per match, never per pair of a cohort
        by_name = {
            item.get("criterion"): item.get("similarity")
            for item in row.breakdown or []
            if isinstance(item, dict)
        }
        values = [by_name.get(name) for name in names]
        if all(isinstance(v, int | float) and math.isfinite(v) for v in values):
            sims[i] = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
            complete[i] = True
    score = np.clip(np.array([row.score for row in kept], dtype=np.float64), 0.0, 1.0)
    # Rows in an order of their content, not of their random ids: the cross-validation
    # folds (drawn over this order) then give the same evaluation for the same outcomes
    # in any database.
    order = np.lexsort(np.column_stack([sims, score, success[known]]).T[::-1])
    return PastMatches(
        match_ids=[kept[k].id for k in order],
        score=score[order],
        success=success[known][order],
        similarities=sims[order],
        complete=complete[order],
        with_outcome=len(latest),
    )


@dataclass(frozen=True)
class CalibrationData:
    """Past (score, realized success) pairs of a program, enough to calibrate on."""

    score: F64
    success: F64

    def predict(self, score: Sequence[float] | F64) -> F64:
        """Predicted success in [0, 1] of matches with these scores (isotonic, CV-checked)."""
        calibrator = scoring.SuccessCalibrator(n_splits=CV_FOLDS, random_state=RANDOM_STATE)
        return calibrator.fit(self.score, self.success).predict(np.asarray(score))


def calibration_data(
    session: Session, program_id: uuid.UUID, config: dict[str, Any]
) -> CalibrationData | None:
    """What a run calibrates predicted success on; None below :data:`scoring.MIN_SAMPLES`."""
    past = past_matches(session, program_id, config)
    if len(past.success) < scoring.MIN_SAMPLES:
        return None
    return CalibrationData(past.score, past.success)


# ----------------------------------------------------------------- versions


def program_owner(session: Session, program_id: uuid.UUID) -> Actor:
    """The acting admin of a script or the CLI, which have no API key: the first
    (oldest) owner of the program's organization who is not revoked."""
    program = session.get(Program, program_id)
    if program is None or program.deleted_at is not None:
        raise NotFound("program", program_id)
    owner = session.scalars(
        select(Admin)
        .where(
            Admin.organization_id == program.organization_id,
            Admin.role == "owner",
            Admin.revoked_at.is_(None),
        )
        .order_by(Admin.created_at, Admin.id)
        .limit(1)
    ).first()
    if owner is None:
        raise Conflict(f"the organization of program {program_id} has no owner to act as")
    return Actor(program.organization_id, owner.id, "owner")


def _prior_weights(config: dict[str, Any]) -> dict[str, float]:
    return {c["name"]: float(c["weight"]) for c in config["criteria"]}


def ensure_prior(session: Session, program: Program) -> None:
    """Create version 1, the admin's prior, if the program has no version yet."""
    exists = session.scalar(
        select(WeightsVersion.id).where(WeightsVersion.program_id == program.id).limit(1)
    )
    if exists is not None:
        return
    config = config_of(session, program)
    try:
        with session.begin_nested():  # two first uses at once: one creates it
            session.add(
                WeightsVersion(
                    id=uuid.uuid4(),
                    organization_id=program.organization_id,
                    program_id=program.id,
                    version=1,
                    weights=_prior_weights(config),
                    source=WeightsSource.PRIOR,
                    active=True,
                    evaluation={},
                    samples=0,
                )
            )
    except IntegrityError:
        pass


def view(row: WeightsVersion) -> dict[str, Any]:
    """The API's view of a weights version."""
    return {
        "version": row.version,
        "weights": dict(row.weights),
        "source": row.source,
        "active": row.active,
        "evaluation": dict(row.evaluation),
        "samples": row.samples,
        "summary": row.summary,
        "created_by": row.created_by,
        "created_at": row.created_at,
    }


def list_weights(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    *,
    limit: int = 100,
    cursor: str | None = None,
) -> Page[dict[str, Any]]:
    """A program's weights versions, oldest (the prior, version 1) first."""
    program = get_program(session, actor, program_id)
    ensure_prior(session, program)
    session.commit()
    stmt = select(WeightsVersion).where(WeightsVersion.program_id == program.id)
    page = paginate(
        session, stmt, WeightsVersion.created_at, WeightsVersion.id, limit=limit, cursor=cursor
    )
    return Page([view(row) for row in page.items], page.next_cursor)


def _lock_program(session: Session, program: Program) -> None:
    """Learning and activation of one program happen one at a time (its row lock)."""
    session.execute(select(Program.id).where(Program.id == program.id).with_for_update())


def _vector(weights: dict[str, Any], names: list[str], fallback: dict[str, float]) -> F64:
    return np.array([float(weights.get(n, fallback[n])) for n in names], dtype=np.float64)


def learn_weights(session: Session, actor: Actor, program_id: uuid.UUID) -> dict[str, Any]:
    """Learn a new weights version from the program's outcomes; returns it.

    It is active if it beats the active weights by :data:`ACTIVATION_MARGIN`, else
    stored inactive with the reason in its ``evaluation``. Raises
    :class:`NotEnoughOutcomes` below :data:`scoring.MIN_SAMPLES` usable outcomes.
    """
    program = get_program(session, actor, program_id)
    ensure_prior(session, program)
    session.commit()  # the prior exists from the first use on, whatever learning answers
    _lock_program(session, program)
    config = config_of(session, program)
    names = [c["name"] for c in config["criteria"]]
    admin = _prior_weights(config)
    current = eligibility.active_weights(session, program.id)
    assert current is not None  # ensure_prior made one, and only activation switches it
    past = past_matches(session, program.id, config)
    X, y = past.similarities[past.complete], past.success[past.complete]
    if len(y) < scoring.MIN_SAMPLES:
        raise NotEnoughOutcomes(len(y), scoring.MIN_SAMPLES, past.with_outcome - len(y))

    prior = _vector(eligibility.scoring_weights(config, current) or {}, names, admin)
    required = [bool(c.get("required")) for c in config["criteria"]]
    learner = scoring.WeightLearner(prior, required=required).fit(X, y)
    report = scoring.evaluate(
        X, y, prior, current=prior, required=required, n_splits=CV_FOLDS, random_state=RANDOM_STATE
    )
    improvement = float(report["improvement"])
    activate = improvement >= ACTIVATION_MARGIN
    reason = (
        f"activated: Spearman {report['spearman_learned']:.3f} beats the active version "
        f"{current.version}'s {report['spearman_current']:.3f} by {improvement:+.3f} "
        f"(margin {ACTIVATION_MARGIN})"
        if activate
        else f"not activated: Spearman {report['spearman_learned']:.3f} against the active "
        f"version {current.version}'s {report['spearman_current']:.3f} is {improvement:+.3f}, "
        f"under the margin of {ACTIVATION_MARGIN}"
    )
    evaluation = {
        **report,
        "margin": ACTIVATION_MARGIN,
        "compared_with_version": current.version,
        "activated": activate,
        "reason": reason,
        "shrinkage": learner.shrinkage_,
        "fallback": learner.fallback_,
        "kept_prior": [n for n, v in zip(names, learner.varying_, strict=True) if not v],
        "required": [n for n, r in zip(names, learner.required_, strict=True) if r],
        "matches_with_outcomes": past.with_outcome,
    }
    weights = {n: float(w) for n, w in zip(names, learner.weights_, strict=True)}
    number = (
        session.scalar(
            select(func.max(WeightsVersion.version)).where(WeightsVersion.program_id == program.id)
        )
        or 0
    ) + 1
    if activate:
        _deactivate_all(session, program.id)
    row = WeightsVersion(
        id=uuid.uuid4(),
        organization_id=program.organization_id,
        program_id=program.id,
        version=number,
        weights=weights,
        source=WeightsSource.LEARNED,
        active=activate,
        evaluation=evaluation,
        samples=len(y),
        summary=scoring.summarize(names, _vector(admin, names, admin), learner.weights_),
        created_by=actor.admin_id,
    )
    session.add(row)
    _flush_or_conflict(session, program.id)
    audit.record(
        session,
        actor,
        "weights.learned",
        program_id=program.id,
        target_type="weights_version",
        target_ids=[row.id],
        details={
            "version": number,
            "samples": len(y),
            "activated": activate,
            "spearman_learned": round(float(report["spearman_learned"]), 6),
            "spearman_current": round(float(report["spearman_current"]), 6),
            "compared_with_version": current.version,
        },
    )
    session.commit()
    return view(row)


def activate_weights(
    session: Session, actor: Actor, program_id: uuid.UUID, version: int
) -> dict[str, Any]:
    """Make ``version`` the program's active weights (an older one: a rollback).

    Idempotent: activating the active version changes and records nothing.
    """
    program = get_program(session, actor, program_id)
    if not 1 <= version <= MAX_VERSION:
        raise NotFound("weights version", version)
    _lock_program(session, program)
    row = session.scalars(
        select(WeightsVersion).where(
            WeightsVersion.program_id == program.id, WeightsVersion.version == version
        )
    ).one_or_none()
    if row is None:
        raise NotFound("weights version", version)
    if row.active:
        return view(row)
    previous = eligibility.active_weights(session, program.id)
    _deactivate_all(session, program.id)
    row.active = True
    _flush_or_conflict(session, program.id)
    audit.record(
        session,
        actor,
        "weights.activated",
        program_id=program.id,
        target_type="weights_version",
        target_ids=[row.id],
        details={
            "version": row.version,
            "previous_version": previous.version if previous is not None else None,
        },
    )
    session.commit()
    session.refresh(row)
    return view(row)


def _deactivate_all(session: Session, program_id: uuid.UUID) -> None:
    # Before the new one is flushed: the partial unique index allows one active row.
    session.execute(
        update(WeightsVersion)
        .where(WeightsVersion.program_id == program_id, WeightsVersion.active.is_(True))
        .values(active=False)
        .execution_options(synchronize_session="fetch")
    )


def _flush_or_conflict(session: Session, program_id: uuid.UUID) -> None:
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent learn or activation took the number
        session.rollback()
        raise Conflict(f"the weights of program {program_id} changed concurrently; retry") from exc

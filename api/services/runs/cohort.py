"""Who a run matches: the cohort, read from the database by the rules of
:mod:`api.services.eligibility`, then put into arrays by a pure build step.

:func:`load_cohort` (called by :func:`api.services.runs.execution.execute_run`) reads
the run, its configuration and the program's people; :func:`build_cohort` turns
those plain values into the matrices' rows and columns, the free places, the
excluded pairs and the pins, without touching the database.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from api.services import eligibility, learning
from api.services.capacity import capacities
from api.services.eligibility import IntArray, Pair
from api.services.learning import CalibrationData
from api.services.lookup import PROFILE_COLUMNS, config_of, profile
from api.services.runs.options import Pin, RunOptions
from models import Participant, Program, Run, UnmatchedMentee
from models.vocabulary import Role, RunStatus, Scope
from scoring import ScoringError, validate_config


class RunError(Exception):
    """A run cannot go on; the message becomes the run's ``error``."""


@dataclass(frozen=True)
class Cohort:
    """One run's input: rows are ``mentees``, columns ``mentors``, as everywhere."""

    organization_id: uuid.UUID
    program_id: uuid.UUID
    config: dict[str, Any]
    objective: str
    weights: dict[str, float] | None
    weights_version: int | None
    mentee_ids: list[uuid.UUID]
    mentor_ids: list[uuid.UUID]
    #: Mentee profiles; each one's ``capacity`` is the places it has left (its
    #: capacity less published matches and kept proposals), what
    #: :func:`~api.services.cohort_matching.match_cohort` matches it for.
    mentees: list[dict[str, Any]]
    mentors: list[dict[str, Any]]
    #: Free places per mentor: capacity less published matches and kept proposals.
    capacity: IntArray
    exclude_pairs: list[tuple[int, int]]
    pins: list[tuple[int, int]]
    priority_rows: IntArray
    priority_bonus: float
    info: dict[str, int] = field(default_factory=dict)
    #: Past (score, realized success) of the program, when it has enough outcomes to
    #: calibrate each proposal's predicted success on; None otherwise.
    calibration: CalibrationData | None = None


def load_cohort(session: Session, run_id: uuid.UUID) -> Cohort:
    """Read what run ``run_id`` matches (raises :class:`RunError` if it cannot)."""
    run = session.get(Run, run_id)
    assert run is not None  # claimed by the caller
    program = session.get(Program, run.program_id)
    if program is None or program.deleted_at is not None:
        raise RunError("the program was deleted")
    options = RunOptions.from_json(run.options)
    # The trigger's tolerance, if any, replaces the configuration's for this run, with
    # the run's objective (the trigger checked the pair with the matcher).
    given = (
        {"tolerance": options.tolerance, "objective": run.objective}
        if options.tolerance is not None
        else {}
    )
    try:
        config = validate_config(
            {
                **config_of(session, program, run.config_version),
                **(options.config_overrides or {}),
                **given,
            }
        )
    except ScoringError as exc:
        raise RunError(str(exc)) from None
    weights = eligibility.active_weights(session, program.id)
    # Core rows of just the columns a profile needs: no ORM identity map, no
    # timestamps to parse (loading ORM objects took ~3.5 s for 20k participants).
    people = session.execute(
        select(Participant.id, Participant.role, *PROFILE_COLUMNS)
        .where(Participant.program_id == program.id, Participant.active.is_(True))
        .order_by(Participant.created_at, Participant.id)
    ).all()
    # Scope "unmatched" keeps the latest run's pending proposals and the places they hold.
    kept = (
        eligibility.pending_proposals(session, program.id, except_run=run.id)
        if run.scope == Scope.UNMATCHED
        else []
    )
    return build_cohort(
        run,
        config,
        people,
        published=eligibility.published_pairs(session, program.id),
        kept=kept,
        never_again=eligibility.previous_pairs(session, program.id),
        pins=options.pins,
        priority=_earlier_unmatched(session, run) if options.priority_unmatched > 0 else set(),
        priority_bonus=options.priority_unmatched,
        weights=eligibility.scoring_weights(config, weights),
        weights_version=weights.version if weights else None,
        calibration=learning.calibration_data(session, program.id, config),
    )


def build_cohort(
    run: Run,
    config: dict[str, Any],
    people: Sequence[Row[Any]],
    *,
    published: Sequence[Pair],
    kept: Sequence[Pair],
    never_again: Collection[Pair],
    pins: Iterable[Pin],
    priority: Collection[uuid.UUID],
    priority_bonus: float,
    weights: dict[str, float] | None,
    weights_version: int | None,
    calibration: CalibrationData | None = None,
) -> Cohort:
    """The pure step: arrays of the run's cohort from rows and the eligibility facts.

    Published matches and kept proposals hold places on both sides (rules 2 and 3): a
    mentee is matched for the places it has left, and left out when it has none;
    mentors keep their places for both. Pairs never to propose again (rule 4: so
    every mentor a mentee has or had) and the kept proposals' pairs are excluded,
    unless pinned (the admin's explicit override of rule 4).
    """
    held = [*published, *kept]
    used = Counter(mentor for _, mentor in held)
    taken = Counter(mentee for mentee, _ in held)
    all_mentees = [p for p in people if p.role == Role.MENTEE]
    all_profiles = [profile(p) for p in all_mentees]
    own = capacities(all_profiles, config, Role.MENTEE)
    places = own - np.array([taken.get(p.id, 0) for p in all_mentees], dtype=np.int64)
    by_published = Counter(mentee for mentee, _ in published)
    on_published = np.array([by_published.get(p.id, 0) for p in all_mentees], dtype=np.int64)
    mentees = [p for p, n in zip(all_mentees, places, strict=True) if n > 0]
    mentors = [p for p in people if p.role == Role.MENTOR]
    row = {p.id: i for i, p in enumerate(mentees)}
    col = {p.id: j for j, p in enumerate(mentors)}

    mentor_profiles = [profile(p) for p in mentors]
    capacity = eligibility.capacities(mentor_profiles, config)
    capacity -= np.array([used.get(p.id, 0) for p in mentors], dtype=np.int64)
    np.maximum(capacity, 0, out=capacity)
    mentee_profiles = [
        {**view, "capacity": int(n)} for view, n in zip(all_profiles, places, strict=True) if n > 0
    ]

    ext_row = {p.external_id: i for i, p in enumerate(mentees)}
    ext_col = {p.external_id: j for j, p in enumerate(mentors)}
    pinned: list[tuple[int, int]] = []
    for mentee_ext, mentor_ext in pins:
        if mentee_ext not in ext_row or mentor_ext not in ext_col:
            raise RunError(
                f"pin [{mentee_ext!r}, {mentor_ext!r}]: no longer an active mentee "
                "with a free place and an active mentor of this program"
            )
        pinned.append((ext_row[mentee_ext], ext_col[mentor_ext]))
    never = {*never_again, *kept}
    exclude = sorted({(row[a], col[b]) for a, b in never if a in row and b in col} - set(pinned))
    return Cohort(
        organization_id=run.organization_id,
        program_id=run.program_id,
        config=config,
        objective=run.objective,
        weights=weights,
        weights_version=weights_version,
        mentee_ids=[p.id for p in mentees],
        mentor_ids=[p.id for p in mentors],
        mentees=mentee_profiles,
        mentors=mentor_profiles,
        capacity=capacity,
        exclude_pairs=exclude,
        pins=pinned,
        priority_rows=np.array(sorted(row[m] for m in priority if m in row), dtype=np.int64),
        priority_bonus=priority_bonus,
        info={
            # Mentees whose places their published matches fill.
            "already_matched": int(np.count_nonzero((on_published > 0) & (on_published >= own))),
            "published_kept": len(published),
            "proposals_kept": len(kept),
            "capacity_used_by_published": sum(used.values()),
        },
        calibration=calibration,
    )


def _earlier_unmatched(session: Session, run: Run) -> set[uuid.UUID]:
    """Mentees that earlier real runs of the program left unmatched."""
    return set(
        session.scalars(
            select(UnmatchedMentee.mentee_id)
            .join(Run, Run.id == UnmatchedMentee.run_id)
            .where(
                Run.program_id == run.program_id,
                Run.status == RunStatus.SUCCEEDED,
                Run.dry_run.is_(False),
                Run.id != run.id,
            )
            .distinct()
        )
    )

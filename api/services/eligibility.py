"""Who may be matched with whom: the matching rules, in one place.

Every caller that proposes, checks or recommends a pair (a run's cohort, the pins
checked at trigger time, an admin's edit, publication, recommendations) asks this
module; none keeps its own copy of a rule.

1. **Capacity.** A mentor takes up to their own ``capacity`` mentees, else the
   program configuration's ``default_capacity``; a mentee up to their own
   ``capacity`` mentors, else ``default_mentee_capacity`` (:func:`capacity_of`,
   :func:`capacities` for a whole cohort at once; defined in the database-free
   :mod:`api.services.capacity`).
2. **Places taken.** A published match holds a place on both sides
   (``Participant.published_load`` of its mentor and of its mentee, kept by the
   database at publication, released when the match ends): :func:`free_places`. A
   run of scope ``unmatched`` also keeps the latest real run's pending proposals,
   which hold places too (:func:`pending_proposals`); so do the other proposals of
   the same run when an admin edits one (:func:`proposed_load`).
3. **A mentee is matched again for the places left** (capacity less published
   load), never with a mentor it has or had: no run, pin or recommendation gives a
   mentee more mentors than it has places, nor a mentor it is published with (rule
   4 keeps the pair out; :func:`published_pairs`). A mentee with no place left is
   not matched at all; within one run a pair is proposed at most once
   (:func:`proposed_in_run`).
4. **Never again.** A pair that was published (ongoing or ended) or rejected
   (:data:`NEVER_AGAIN`) is never proposed again: runs exclude it, recommendations
   skip it, and an admin's edit refuses it (:func:`previous_pairs`,
   :func:`previous_partners`, :func:`previous_pair`; with rules 2 and 5 in one
   statement for a recommendation: :func:`free_partners`). Only an admin may override
   it, explicitly and audited: a pin at trigger time (the ``run.triggered`` entry
   counts the pins), or an edit with ``allow_previous_pair`` (the ``match.edited``
   entry says so). A pair published and still ongoing cannot be overridden: the
   database publishes a pair once (rule 3).
5. **Only active participants** are matched or recommended (:func:`active_people`).
6. **Hard constraints of a pair** (required criteria, exclusions) are the scoring
   engine's: :func:`explain_pairs` scores a few pairs the way a run would.
7. **Weights.** A run scores with the program's active weights version
   (:func:`active_weights`) as :func:`scoring_weights` applies it to the
   configuration: a learned version sets the weights of the criteria it knows, every
   other criterion keeps the configuration's weight, and the prior (version 1,
   ``source: "prior"``) always means the configuration's current weights, so an
   admin's change of weights takes effect at once. Checks of a run's proposals use
   the weights that run used (:func:`weights_of_run`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Integer, bindparam, func, or_, select
from sqlalchemy.orm import Session

import scoring
from api.services.capacity import capacities as capacities
from api.services.capacity import capacity_of as capacity_of
from api.services.capacity import default_places
from api.services.errors import Conflict
from api.services.lookup import profile
from models import Match, Participant, Run, WeightsVersion
from models.prepared import PreparedSelect
from models.vocabulary import MatchStatus, Role, RunStatus, WeightsSource

IntArray = npt.NDArray[np.int64]
Pair = tuple[uuid.UUID, uuid.UUID]

#: Statuses of a pair that is never proposed again (rule 4).
NEVER_AGAIN = (MatchStatus.PUBLISHED, MatchStatus.ENDED, MatchStatus.REJECTED)


# ----------------------------------------------------------------- 1, 2: capacity


def free_places(person: Participant, config: Mapping[str, Any]) -> int:
    """Places a mentor or mentee has left besides their published matches."""
    return max(capacity_of(person, config) - person.published_load, 0)


def proposed_load(
    session: Session,
    run_id: uuid.UUID | None,
    mentor_id: uuid.UUID,
    *,
    except_match: uuid.UUID | None = None,
) -> int:
    """How many pending proposals of one run name this mentor (``except_match`` aside)."""
    if run_id is None:
        return 0
    stmt = (
        select(func.count())
        .select_from(Match)
        .where(
            Match.run_id == run_id,
            Match.mentor_id == mentor_id,
            Match.status == MatchStatus.PROPOSED,
        )
    )
    if except_match is not None:
        stmt = stmt.where(Match.id != except_match)
    return int(session.scalar(stmt) or 0)


def pending_proposals(
    session: Session, program_id: uuid.UUID, *, except_run: uuid.UUID | None = None
) -> list[Pair]:
    """(mentee, mentor) of the proposals still pending from the latest real run."""
    stmt = select(Run.id).where(
        Run.program_id == program_id,
        Run.status == RunStatus.SUCCEEDED,
        Run.dry_run.is_(False),
    )
    if except_run is not None:
        stmt = stmt.where(Run.id != except_run)
    latest = session.scalars(stmt.order_by(Run.finished_at.desc(), Run.id).limit(1)).first()
    if latest is None:
        return []
    rows = session.execute(
        select(Match.mentee_id, Match.mentor_id).where(
            Match.run_id == latest, Match.status == MatchStatus.PROPOSED
        )
    ).all()
    return [(mentee, mentor) for mentee, mentor in rows]


# ----------------------------------------------------------------- 3: published


def published_pairs(session: Session, program_id: uuid.UUID) -> list[Pair]:
    """(mentee, mentor) of the program's published matches."""
    rows = session.execute(
        select(Match.mentee_id, Match.mentor_id).where(
            Match.program_id == program_id, Match.status == MatchStatus.PUBLISHED
        )
    ).all()
    return [(mentee, mentor) for mentee, mentor in rows]


def proposed_in_run(
    session: Session,
    run_id: uuid.UUID | None,
    mentee_id: uuid.UUID,
    mentor_id: uuid.UUID,
    *,
    except_match: uuid.UUID | None = None,
) -> bool:
    """Whether another pending proposal of the run already pairs these two."""
    if run_id is None:
        return False
    stmt = select(Match.id).where(
        Match.run_id == run_id,
        Match.mentee_id == mentee_id,
        Match.mentor_id == mentor_id,
        Match.status == MatchStatus.PROPOSED,
    )
    if except_match is not None:
        stmt = stmt.where(Match.id != except_match)
    return session.scalar(stmt.limit(1)) is not None


# ----------------------------------------------------------------- 4: never again


def previous_pairs(session: Session, program_id: uuid.UUID) -> set[Pair]:
    """Every (mentee, mentor) pair of the program that is never proposed again."""
    rows = session.execute(
        select(Match.mentee_id, Match.mentor_id)
        .where(Match.program_id == program_id, Match.status.in_(NEVER_AGAIN))
        .distinct()
    ).all()
    return {(mentee, mentor) for mentee, mentor in rows}


def previous_partners(session: Session, participant: Participant) -> set[uuid.UUID]:
    """Those never to be proposed to ``participant`` again (the other side of rule 4)."""
    mine, theirs = (
        (Match.mentee_id, Match.mentor_id)
        if participant.role == Role.MENTEE
        else (Match.mentor_id, Match.mentee_id)
    )
    return set(
        session.scalars(select(theirs).where(mine == participant.id, Match.status.in_(NEVER_AGAIN)))
    )


def _free_partners(mine: Any, theirs: Any) -> PreparedSelect:
    """The ids of the program's active participants of role ``:role`` with a free place
    (rule 2, :func:`free_places` > 0: their own ``capacity``, else ``:default_places``,
    above their ``published_load``) and no earlier match with ``:me`` that rule 4
    refuses (:func:`previous_partners`); ``mine`` and ``theirs`` are the match's
    columns of ``:me``'s side and of theirs."""
    # Not correlated (NOT IN, not NOT EXISTS): PostgreSQL reads the few earlier partners
    # once and hashes them, where a planner misled by a table's lagging statistics (a
    # program just imported) ran an anti join scanning the matches once per candidate
    # (47 ms for 1,000). The columns are NOT NULL: NOT IN means "none of them".
    earlier = select(theirs).where(
        mine == bindparam("me"),
        or_(*(Match.status == status for status in NEVER_AGAIN)),
    )
    return PreparedSelect(
        select(Participant.id).where(
            Participant.program_id == bindparam("program_id"),
            Participant.role == bindparam("role"),
            Participant.active.is_(True),
            func.coalesce(Participant.capacity, bindparam("default_places", type_=Integer))
            > Participant.published_load,
            Participant.id.not_in(earlier),
        )
    )


#: A mentee's free partners: mentors (see :func:`_free_partners`).
_FREE_MENTORS = _free_partners(Match.mentee_id, Match.mentor_id)
#: A mentor's free partners: mentees.
_FREE_MENTEES = _free_partners(Match.mentor_id, Match.mentee_id)


def free_partners(
    session: Session, participant: Participant, config: Mapping[str, Any]
) -> Sequence[Any]:
    """Rows (``id`` first) of everyone ``participant`` may be recommended now: active,
    of the other role, with a free place, never a previous partner (rules 2, 4 and 5
    in one statement; a recommendation reads them on every call)."""
    is_mentee = participant.role == Role.MENTEE
    other = Role.MENTOR if is_mentee else Role.MENTEE
    return (_FREE_MENTORS if is_mentee else _FREE_MENTEES).all(
        session,
        {
            "program_id": participant.program_id,
            "role": str(other),
            "default_places": default_places(str(other), config),
            "me": participant.id,
        },
    )


@dataclass(frozen=True)
class PreviousPair:
    """An earlier match of a pair that rule 4 refuses, with the dates a message needs."""

    status: MatchStatus
    published_at: datetime | None
    ended_at: datetime | None
    updated_at: datetime


def previous_pair(
    session: Session,
    program_id: uuid.UUID,
    mentee_id: uuid.UUID,
    mentor_id: uuid.UUID,
    *,
    except_match: uuid.UUID | None = None,
) -> PreviousPair | None:
    """The earlier match of this pair that rule 4 refuses, if any; the ongoing
    (published) one first, then an ended one, then a rejected one."""
    stmt = select(Match.status, Match.published_at, Match.ended_at, Match.updated_at).where(
        Match.program_id == program_id,
        Match.mentee_id == mentee_id,
        Match.mentor_id == mentor_id,
        Match.status.in_(NEVER_AGAIN),
    )
    if except_match is not None:
        stmt = stmt.where(Match.id != except_match)
    found = [
        PreviousPair(MatchStatus(row.status), row.published_at, row.ended_at, row.updated_at)
        for row in session.execute(stmt)
    ]
    return min(found, key=lambda p: NEVER_AGAIN.index(p.status), default=None)


# ----------------------------------------------------------------- 5, 6: who, which pairs


def active_people(session: Session, program_id: uuid.UUID, role: str) -> list[Participant]:
    """The program's active participants of one role, in a stable order."""
    return list(
        session.scalars(
            select(Participant)
            .where(
                Participant.program_id == program_id,
                Participant.role == role,
                Participant.active.is_(True),
            )
            .order_by(Participant.id)
        )
    )


def explain_pairs(
    session: Session,
    program_id: uuid.UUID,
    pairs: Sequence[tuple[Participant, Participant]],
    *,
    config: Mapping[str, Any],
    weights: Mapping[str, float] | None = None,
) -> list[scoring.Explanation]:
    """Score and explain a few (mentee, mentor) pairs: the one check of single pairs
    against the hard constraints (``allowed``, ``blocked_by``), for edits and pins.

    The whole active cohort is encoded (text similarity depends on it, as in a run)
    but only the given pairs are scored: no matrix is built. A participant who is not
    active is appended, so the pair is still explained (and reported not allowed).
    Raises :class:`Conflict` when the program's data cannot be scored.
    """
    if not pairs:
        return []
    sides: list[list[Participant]] = []
    indices: list[list[int]] = []
    for role, k in ((Role.MENTEE, 0), (Role.MENTOR, 1)):
        people = active_people(session, program_id, role)
        where = {p.id: n for n, p in enumerate(people)}
        for pair in pairs:
            if pair[k].id not in where:
                where[pair[k].id] = len(people)
                people.append(pair[k])
        sides.append(people)
        indices.append([where[pair[k].id] for pair in pairs])
    try:
        compat = scoring.lazy_compatibility(
            [profile(p) for p in sides[0]],
            [profile(p) for p in sides[1]],
            config,
            weights=weights,
        )
        return list(scoring.explain(compat, indices[0], indices[1]))
    except scoring.ScoringError as exc:
        raise Conflict(f"the program's data cannot be scored: {exc}") from exc


# ----------------------------------------------------------------- 7: weights


def active_weights(session: Session, program_id: uuid.UUID) -> WeightsVersion | None:
    """The program's active weights version; None means the configuration's weights."""
    return session.scalars(
        select(WeightsVersion).where(
            WeightsVersion.program_id == program_id, WeightsVersion.active.is_(True)
        )
    ).first()


def scoring_weights(
    config: Mapping[str, Any], version: WeightsVersion | None
) -> dict[str, float] | None:
    """The weights to score ``config`` with under ``version`` (None: the config's own).

    Only the criteria the configuration has take a learned weight; a criterion the
    version does not know keeps the configuration's weight (rule 7).
    """
    if version is None or version.source == WeightsSource.PRIOR:
        return None
    names = {c["name"] for c in config.get("criteria", [])}
    return {name: float(w) for name, w in version.weights.items() if name in names}


def weights_of_run(
    session: Session, run: Run | None, config: Mapping[str, Any]
) -> dict[str, float] | None:
    """The weights a run scored ``config`` (its configuration) with."""
    if run is None or run.weights_version is None:
        return None
    version = session.scalars(
        select(WeightsVersion).where(
            WeightsVersion.program_id == run.program_id,
            WeightsVersion.version == run.weights_version,
        )
    ).first()
    return scoring_weights(config, version)

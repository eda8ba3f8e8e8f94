"""Self-match: the best feasible partners of one participant, from one row of scores.

Who may be recommended is :mod:`api.services.eligibility`'s: for a mentee, active
mentors with a free place; for a mentor, active mentees with a free place (a mentee
of capacity 3 with one published mentor still has two); never a pair that was
published or rejected before (rule 4), so never a mentor the mentee has or had. A
mentee whose places are all taken by published matches, and a mentor with no free
place, get none (``note`` says why). Only the participant's row (or column) is
scored (``scoring.recommend``); the full matrix is never built, though the whole
active cohort is encoded so that a recommended pair scores exactly what a run or an
edit gives it.

The places left and the partners never to meet again change between calls without
changing the encoding, so they are read on every call, in one statement that gives
the ids of the free candidates (:func:`eligibility.free_partners`); no
Python loop over the other side's people, and no ORM objects but the participant's
own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

import scoring
from api.services import eligibility
from api.services.cohort_cache import COHORTS, CachedCohort, cohort_key
from api.services.context import Actor
from api.services.errors import Conflict
from api.services.lookup import (
    PROFILE_COLUMNS,
    config_of,
    get_participant,
    get_program,
    profile,
)
from api.services.match_views import ref, refs
from models import Participant
from models.vocabulary import Role

MAX_LIMIT = 100


#: Why a participant gets no recommendations at all (``Recommendations.note``).
ALREADY_MATCHED = "already matched"
NO_FREE_PLACE = "no free place"


_FIRST = itemgetter(0)
_INT = attrgetter("int")


@dataclass(frozen=True)
class Recommendations:
    participant: dict[str, Any]
    role: str
    items: list[dict[str, Any]]
    #: Set when ``items`` is empty on purpose: a mentee whose places are all taken by
    #: published matches, or a mentor likewise, is recommended no one.
    note: str | None = None


def recommend(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    participant_id: uuid.UUID,
    *,
    limit: int = 10,
) -> Recommendations:
    """Up to ``limit`` partners for the participant, best first, with score and reasons."""
    program = get_program(session, actor, program_id)
    me = get_participant(session, actor, program_id, participant_id)
    config = config_of(session, program)
    is_mentee = me.role == Role.MENTEE
    if eligibility.free_places(me, config) == 0:
        note = ALREADY_MATCHED if is_mentee and me.published_load else NO_FREE_PLACE
        return Recommendations(ref(me), me.role, [], note)
    weights = eligibility.scoring_weights(config, eligibility.active_weights(session, program.id))
    try:
        cohort = _encoded_cohort(session, program.id, config, weights, me)
    except scoring.ScoringError as exc:
        raise Conflict(f"the program's data cannot be scored: {exc}") from exc
    own_positions, other_ids, other_positions = (
        (cohort.mentee_positions, cohort.mentor_ids, cohort.mentor_positions)
        if is_mentee
        else (cohort.mentor_positions, cohort.mentee_ids, cohort.mentee_positions)
    )
    if cohort.engine is None or not other_ids:
        return Recommendations(ref(me), me.role, [])
    # Read fresh on every call: the places left and the partners never to meet again.
    free_ids = eligibility.free_partners(session, me, config)
    at = np.fromiter(
        map(other_positions.get, map(_INT, map(_FIRST, free_ids)), repeat(-1)),
        np.intp,
        len(free_ids),
    )
    free = np.zeros(len(other_ids), bool)
    # (-1: not in the cohort, activated by a machine whose clock is behind: left out)
    free[at[at >= 0]] = True
    where = own_positions[me.id.int]
    try:
        found = scoring.recommend_from(
            cohort.engine,
            k=limit,
            mentee=where if is_mentee else None,
            mentor=None if is_mentee else where,
            candidate_mask=free,
        )
    except scoring.ScoringError as exc:
        raise Conflict(f"the program's data cannot be scored: {exc}") from exc
    chosen = [other_ids[e.mentor if is_mentee else e.mentee] for e in found]
    shown = refs(session, chosen)  # as ref() names them, from the four columns it reads
    items = [
        {
            "partner": shown[pid],
            "score": e.score,
            "breakdown": e.breakdown,
            "reasons": e.reasons,
        }
        for pid, e in zip(chosen, found, strict=True)
        if pid in shown  # deleted since the places were read (with their program)
    ]
    return Recommendations(ref(me), me.role, items)


def _encoded_cohort(
    session: Session,
    program_id: uuid.UUID,
    config: dict[str, Any],
    weights: dict[str, float] | None,
    me: Participant,
) -> CachedCohort:
    """The program's whole active cohort, encoded as in a run and an edit (text
    similarity depends on it), so a recommended pair scores what a run or an edit
    gives it; from the process's cache when the cohort has not changed. An inactive
    participant (who still sees whom they would fit) joins their side, uncached."""

    def build(extra: Participant | None = None) -> CachedCohort:
        mentees: list[Any] = _active_profiles(session, program_id, Role.MENTEE)
        mentors: list[Any] = _active_profiles(session, program_id, Role.MENTOR)
        if extra is not None:
            (mentees if extra.role == Role.MENTEE else mentors).append(extra)
        engine = (
            scoring.encode_cohort(
                [profile(p) for p in mentees],
                [profile(p) for p in mentors],
                config,
                weights=weights,
            )
            if mentees and mentors
            else None  # nobody to recommend: nothing to encode
        )
        return CachedCohort(engine, tuple(p.id for p in mentees), tuple(p.id for p in mentors))

    if not me.active:
        return build(me)
    key = cohort_key(session, program_id, config, weights)
    cohort = COHORTS.get_or_build(key, build)
    mine = cohort.mentee_ids if me.role == Role.MENTEE else cohort.mentor_ids
    # Not in it: activated by a machine whose clock is behind; this call reads afresh.
    return cohort if me.id in mine else build(me)


def _active_profiles(session: Session, program_id: uuid.UUID, role: str) -> list[Any]:
    """The active participants of one role as rows of what :func:`profile` reads (and
    their ids), in :func:`eligibility.active_people`'s order: no ORM objects for a
    whole cohort."""
    return list(
        session.execute(
            select(Participant.id, *PROFILE_COLUMNS)
            .where(
                Participant.program_id == program_id,
                Participant.role == role,
                Participant.active.is_(True),
            )
            .order_by(Participant.id)
        )
    )

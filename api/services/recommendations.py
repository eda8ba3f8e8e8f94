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
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

import scoring
from api.services import eligibility
from api.services.context import Actor
from api.services.errors import Conflict
from api.services.lookup import config_of, get_participant, get_program, profile
from api.services.match_views import ref
from models.vocabulary import Role

MAX_LIMIT = 100


#: Why a participant gets no recommendations at all (``Recommendations.note``).
ALREADY_MATCHED = "already matched"
NO_FREE_PLACE = "no free place"


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
    # The whole active cohort is encoded, as in a run and an edit (text similarity
    # depends on it), so a recommended pair scores what a run or an edit would give it.
    mine = eligibility.active_people(session, program.id, me.role)
    others = eligibility.active_people(
        session, program.id, Role.MENTOR if is_mentee else Role.MENTEE
    )
    if not others:
        return Recommendations(ref(me), me.role, [])
    where = next((k for k, p in enumerate(mine) if p.id == me.id), None)
    if where is None:  # an inactive participant still sees whom they would fit
        where, mine = len(mine), [*mine, me]
    free = np.array([eligibility.free_places(p, config) > 0 for p in others], bool)
    never = eligibility.previous_partners(session, me)
    free &= np.array([p.id not in never for p in others], bool)

    weights = eligibility.scoring_weights(config, eligibility.active_weights(session, program.id))
    own, theirs = [profile(p) for p in mine], [profile(p) for p in others]
    mentees, mentors = (own, theirs) if is_mentee else (theirs, own)
    try:
        found = scoring.recommend(
            mentees,
            mentors,
            config,
            k=limit,
            weights=weights,
            mentee=where if is_mentee else None,
            mentor=None if is_mentee else where,
            candidate_mask=free,
        )
    except scoring.ScoringError as exc:
        raise Conflict(f"the program's data cannot be scored: {exc}") from exc
    items = [
        {
            "partner": ref(others[e.mentor if is_mentee else e.mentee]),
            "score": e.score,
            "breakdown": e.breakdown,
            "reasons": e.reasons,
        }
        for e in found
    ]
    return Recommendations(ref(me), me.role, items)

"""Self-match: the best feasible partners of one participant, from one row of scores.

For a mentee: active mentors with a free place (capacity minus published matches).
For a mentor: active mentees without a published match. A mentee who already has a
published match, and a mentor with no free place, get none (``note`` says why).
Pairs already published or ended together are never recommended again. Only the
participant's row (or column) is scored (``scoring.recommend``); the full matrix is
never built.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

import scoring
from api.services.context import Actor
from api.services.errors import Conflict
from api.services.lookup import config_of, get_participant, get_program, profile
from api.services.matches import active_weights, capacity_of, ref
from models import Match, Participant

MAX_LIMIT = 100


#: Why a participant gets no recommendations at all (``Recommendations.note``).
ALREADY_MATCHED = "already matched"
NO_FREE_PLACE = "no free place"


@dataclass(frozen=True)
class Recommendations:
    participant: dict[str, Any]
    role: str
    items: list[dict[str, Any]]
    #: Set when ``items`` is empty on purpose: a mentee who already has a published
    #: match, or a mentor whose places are all taken, is recommended no one.
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
    if me.role == "mentee" and _has_published_match(session, me):
        return Recommendations(ref(me), me.role, [], ALREADY_MATCHED)
    if me.role == "mentor" and capacity_of(me, config) - me.published_load <= 0:
        return Recommendations(ref(me), me.role, [], NO_FREE_PLACE)
    weights = active_weights(session, program.id)
    other_role = "mentor" if me.role == "mentee" else "mentee"
    others = list(
        session.scalars(
            select(Participant)
            .where(
                Participant.program_id == program.id,
                Participant.role == other_role,
                Participant.active.is_(True),
                Participant.id != me.id,
            )
            .order_by(Participant.id)
        )
    )
    if not others:
        return Recommendations(ref(me), me.role, [])
    if me.role == "mentee":
        free = np.array([capacity_of(p, config) - p.published_load > 0 for p in others], bool)
    else:
        matched = set(
            session.scalars(
                select(Match.mentee_id).where(
                    Match.program_id == program.id, Match.status == "published"
                )
            )
        )
        free = np.array([p.id not in matched for p in others], bool)
    # Partners this participant was published with before (ongoing or ended).
    column = Match.mentee_id if me.role == "mentee" else Match.mentor_id
    partner = Match.mentor_id if me.role == "mentee" else Match.mentee_id
    past = set(
        session.scalars(
            select(partner).where(column == me.id, Match.status.in_(("published", "ended")))
        )
    )
    free &= np.array([p.id not in past for p in others], bool)

    own, theirs = [profile(me)], [profile(p) for p in others]
    mentees, mentors = (own, theirs) if me.role == "mentee" else (theirs, own)
    try:
        found = scoring.recommend(
            mentees,
            mentors,
            config,
            k=limit,
            weights=weights.weights if weights else None,
            mentee=0 if me.role == "mentee" else None,
            mentor=0 if me.role == "mentor" else None,
            candidate_mask=free,
        )
    except scoring.ScoringError as exc:
        raise Conflict(f"the program's data cannot be scored: {exc}") from exc
    items = []
    for e in found:
        other = others[e.mentor if me.role == "mentee" else e.mentee]
        items.append(
            {
                "partner": ref(other),
                "score": e.score,
                "breakdown": e.breakdown,
                "reasons": e.reasons,
            }
        )
    return Recommendations(ref(me), me.role, items)


def _has_published_match(session: Session, mentee: Participant) -> bool:
    return (
        session.scalar(
            select(Match.id)
            .where(Match.mentee_id == mentee.id, Match.status == "published")
            .limit(1)
        )
        is not None
    )

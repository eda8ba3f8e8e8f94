"""How a match and the people in it are shown: to the API, in messages, in exports.

Every reader goes through :func:`~api.services.lookup.profile`, so an erased person
shows no name and no external id wherever a match is shown.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.services.lookup import ANONYMOUS, profile
from models import Match, Participant


def ref(participant: Participant) -> dict[str, Any]:
    """How a match names a person: ids and display name only."""
    shown = profile(participant)
    return {"id": participant.id, "external_id": shown["external_id"], "name": shown["name"]}


def label(participant: Participant) -> str:
    """A person in a message: the external id, or the uuid once erased (never a name)."""
    return str(profile(participant)["external_id"] or participant.id)


def mentor_label(participant: Participant) -> str:
    return f"mentor {label(participant)}"


def people(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Participant]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.scalars(select(Participant).where(Participant.id.in_(wanted)))
    return {p.id: p for p in rows}


def refs(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """:func:`ref` of each participant, read as the four columns it needs (a page of
    matches names 100 people: no ORM objects, no JSON columns decoded)."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(
            Participant.id, Participant.external_id, Participant.name, Participant.erased_at
        ).where(Participant.id.in_(wanted))
    )
    return {
        row.id: {"id": row.id, "external_id": None, "name": ANONYMOUS}
        if row.erased_at is not None
        else {"id": row.id, "external_id": row.external_id, "name": row.name}
        for row in rows
    }


def views(session: Session, matches: Sequence[Match]) -> list[dict[str, Any]]:
    """The API's view of each match, with both people named as :func:`ref` names them."""
    who = refs(session, [m.mentee_id for m in matches] + [m.mentor_id for m in matches])
    return [_view(m, who[m.mentee_id], who[m.mentor_id]) for m in matches]


def _view(match: Match, mentee: dict[str, Any], mentor: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": match.id,
        "program_id": match.program_id,
        "run_id": match.run_id,
        "mentee": mentee,
        "mentor": mentor,
        "score": match.score,
        "breakdown": match.breakdown,
        "reasons": match.reasons,
        "predicted_success": match.predicted_success,
        "status": match.status,
        "version": match.version,
        "created_at": match.created_at,
        "updated_at": match.updated_at,
        "edited_by": match.edited_by,
        "published_by": match.published_by,
        "published_at": match.published_at,
        "ended_by": match.ended_by,
        "ended_at": match.ended_at,
        "ended_reason": match.ended_reason,
    }

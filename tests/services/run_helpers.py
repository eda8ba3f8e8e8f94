"""Builders for run tests: a program with a small config, participants, published matches."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.services.context import Actor
from models import Match, Participant, Program, Run
from tests import factories

#: Skills alone decide the score (weight 0 elsewhere); a shared language is required.
CONFIG: dict[str, Any] = {
    "fields": [{"key": "languages", "type": "multi"}],
    "criteria": [
        {"name": "skills", "kind": "skill_overlap", "weight": 1},
        {
            "name": "shared_language",
            "kind": "overlap",
            "field": "languages",
            "required": True,
            "weight": 0,
        },
    ],
    "default_capacity": 1,
}


def make_program(session: Session, actor: Actor, config: dict[str, Any] | None = None) -> Program:
    """A committed program with this module's config (runs read it in their own sessions)."""
    program = factories.make_program(session, actor, config or CONFIG)
    session.commit()
    return program


def add(
    session: Session,
    program: Program,
    role: str,
    external_id: str,
    skills: Sequence[str] = ("python",),
    *,
    capacity: int | None = None,
    languages: Sequence[str] = ("en",),
    active: bool = True,
) -> Participant:
    """A committed participant (runs read them in their own sessions)."""
    person = factories.make_participant(
        session,
        program,
        role,
        external_id,
        skills=skills,
        capacity=capacity,
        languages=languages,
        active=active,
    )
    session.commit()
    return person


def pairs(session: Session, run_id: uuid.UUID) -> dict[str, str]:
    """mentee external_id -> mentor external_id of the run's proposals."""
    mentee = select(Participant.external_id).where(Participant.id == Match.mentee_id)
    mentor = select(Participant.external_id).where(Participant.id == Match.mentor_id)
    rows = session.execute(
        select(mentee.scalar_subquery(), mentor.scalar_subquery()).where(Match.run_id == run_id)
    ).all()
    return dict(rows)  # type: ignore[arg-type]


def set_status(session: Session, run_id: uuid.UUID, mentee_ext: str, status: str) -> None:
    """Give the run's proposal of ``mentee_ext`` another status (as publish/end/reject do)."""
    match = session.scalars(
        select(Match)
        .join(Participant, Participant.id == Match.mentee_id)
        .where(Match.run_id == run_id, Participant.external_id == mentee_ext)
    ).one()
    match.status = status
    session.commit()


def reload(session: Session, run_id: uuid.UUID) -> Run:
    session.expire_all()
    run = session.get(Run, run_id)
    assert run is not None
    return run

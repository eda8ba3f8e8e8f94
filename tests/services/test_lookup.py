"""lookup.profile reads a loaded Participant and a Core row of PROFILE_COLUMNS alike."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.services.lookup import ANONYMOUS, PROFILE_COLUMNS, profile
from models import Participant
from tests.factories import RUN_CONFIG, add, make_org, make_program


def test_profile_of_a_core_row_equals_profile_of_the_orm_object(session: Session) -> None:
    program = make_program(session, make_org(session), RUN_CONFIG, commit=True)
    plain = add(session, program, "mentor", "m1", ["python", "sql"], capacity=3)
    plain.email, plain.position, plain.level = "m1@example.org", "Engineer", 4
    plain.exclude = ["e9"]
    erased = add(session, program, "mentee", "e1", ["go"], languages=("fr",))
    erased.erased_at = datetime.now(UTC)
    session.commit()

    rows = {r.id: r for r in session.execute(select(Participant.id, *PROFILE_COLUMNS)).all()}
    session.expire_all()
    for person in (plain, erased):
        orm = session.get(Participant, person.id)
        assert orm is not None
        assert profile(rows[person.id]) == profile(orm)
    assert profile(rows[erased.id])["name"] == ANONYMOUS
    assert profile(rows[erased.id])["external_id"] is None
    assert profile(rows[plain.id])["attributes"] == {"languages": ["en"]}

"""Review and publication of proposals written by a real run (scoring + matcher)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.services import audit, matches, publication, runs
from models import Participant
from tests.factories import make_org, make_participant, make_program


def test_a_run_proposes_then_an_admin_edits_and_publishes(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    actor = make_org(session)
    program = make_program(session, actor)
    make_participant(session, program, "mentor", "m1", skills=["python", "sql"])
    make_participant(session, program, "mentor", "m2", skills=["go"], capacity=2)
    make_participant(session, program, "mentee", "e1", skills=["python", "sql"])
    make_participant(session, program, "mentee", "e2", skills=["go"])
    make_participant(session, program, "mentee", "e3", skills=["go"], languages=["xx"])
    session.commit()
    run = runs.start_run(session, actor, program.id)
    session.rollback()
    assert runs.execute_run(session_factory, run.id) == "succeeded"

    page = matches.list_run_matches(session, actor, program.id, run.id)
    pairs = {m["mentee"]["external_id"]: m for m in page.items}
    assert {k: v["mentor"]["external_id"] for k, v in pairs.items()} == {"e1": "m1", "e2": "m2"}
    assert [(u["mentee"]["external_id"], u["reason"]) for u in page.unmatched] == [
        ("e3", "no_allowed_mentor")  # nobody speaks xx
    ]
    e2 = pairs["e2"]
    assert sum(b["contribution"] for b in e2["breakdown"]) == pytest.approx(e2["score"], abs=1e-6)

    # m1 has room for no one else; m2 (capacity 2) has room for e1.
    with pytest.raises(matches.ValidationFailed, match="capacity"):
        matches.edit_match(session, actor, e2["id"], mentor_external_id="m1")
    session.rollback()
    moved = matches.edit_match(session, actor, pairs["e1"]["id"], mentor_external_id="m2")
    # Re-explained: no skill in common, only the language (weights 2 and 1).
    assert moved["score"] == pytest.approx(1 / 3)
    assert [b["similarity"] for b in moved["breakdown"]] == [0.0, 1.0]

    published = publication.publish(session, actor, program.id, run.id)
    assert published.newly_published == 2
    loads = {
        row.external_id: row.published_load
        for row in session.execute(select(Participant.external_id, Participant.published_load))
    }
    assert loads["m1"] == 0
    assert loads["m2"] == 2
    assert audit.verify(session, actor.organization_id).valid

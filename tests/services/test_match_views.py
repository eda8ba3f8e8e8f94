"""How matches name people: :func:`match_views.refs` (four columns, for pages) says
exactly what :func:`match_views.ref` says of the loaded participant, erased or not."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.services import erasure, match_views
from api.services.lookup import ANONYMOUS
from tests.factories import make_org, make_participant, make_program


def test_refs_name_people_as_ref_does_erased_ones_anonymous(session: Session) -> None:
    actor = make_org(session)
    program = make_program(session, actor)
    people = [make_participant(session, program, "mentee", f"e{i}") for i in range(3)]
    people.append(make_participant(session, program, "mentor", "m0"))
    session.commit()
    erasure.erase_participant(session, actor, program.id, people[1].id)
    session.commit()
    for person in people:
        session.refresh(person)

    found = match_views.refs(session, [p.id for p in people] + [people[0].id])
    assert found == {p.id: match_views.ref(p) for p in people}
    assert found[people[1].id] == {"id": people[1].id, "external_id": None, "name": ANONYMOUS}
    assert found[people[0].id]["name"] == "Person e0"
    assert match_views.refs(session, []) == {}

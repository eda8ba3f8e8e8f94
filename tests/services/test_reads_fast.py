"""The reads of a program, a participant and a page: Core rows, the same views.

``GET /v1/programs/{id}``, ``.../participants/{id}`` and a page of participants select
the columns they show instead of loading ORM objects (api.services.programs and
api.services.participants). What that must keep: the views the ORM objects give
(erased participants anonymized), one statement per read, and the organization's rows
only, by the reads' own criterion and by the tenant guard's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from api.schemas.participants import ParticipantListSchema, ParticipantSchema
from api.schemas.programs import ProgramListSchema, ProgramSchema
from api.services import participants, programs
from api.services.context import Actor
from api.services.errors import NotFound
from api.services.lookup import ANONYMOUS, config_of
from models import Participant, Program
from models.tenant_guard import scope_session
from tests.factories import RUN_CONFIG, make_org, make_participant, make_program


def _cohort(session: Session, name: str = "Acme") -> tuple[Actor, Program, list[Participant]]:
    """A program with a mentor, a mentee and an erased mentee, committed."""
    actor = make_org(session, name)
    program = make_program(session, actor, RUN_CONFIG)
    mentor = make_participant(session, program, "mentor", "m1", skills=["python", "sql"])
    mentor.position, mentor.level, mentor.capacity, mentor.exclude = "Engineer", 4, 3, ["e9"]
    mentee = make_participant(session, program, "mentee", "e1", active=False)
    erased = make_participant(session, program, "mentee", "e2", languages=("fr",))
    erased.erased_at = datetime.now(UTC)
    session.commit()
    return actor, program, [mentor, mentee, erased]


@pytest.fixture
def loads() -> Iterator[list[object]]:
    """Every Program and Participant the ORM builds from a row while the test runs."""
    built: list[object] = []

    def record(target: object, _context: Any) -> None:
        built.append(target)

    for model in (Program, Participant):
        event.listen(model, "load", record)
    yield built
    for model in (Program, Participant):
        event.remove(model, "load", record)


@pytest.fixture
def statements(session: Session) -> Iterator[list[str]]:
    """The queries ``session`` sends while the test runs, but the tenant setting's."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("SELECT") and "set_config" not in statement:
            sent.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def test_the_reads_build_no_orm_object(session: Session, loads: list[object]) -> None:
    actor, program, people = _cohort(session)
    program_id, ids = program.id, [p.id for p in people]
    session.expunge_all()  # as a request's session starts: an ORM read would build objects
    assert programs.get(session, actor, program_id).id == program_id
    assert [p.id for p in programs.list_programs(session, actor, limit=10).items] == [program_id]
    assert participants.get(session, actor, program_id, ids[0]).id == ids[0]
    page = participants.list_participants(session, actor, program_id, limit=10)
    assert [p.id for p in page.items] == ids
    assert loads == []


def test_one_statement_per_read(session: Session, statements: list[str]) -> None:
    actor, program, people = _cohort(session)
    statements.clear()
    programs.get(session, actor, program.id)
    programs.list_programs(session, actor, limit=10)  # the configurations joined, not asked
    participants.get(session, actor, program.id, people[0].id)
    participants.list_participants(session, actor, program.id, limit=10)
    assert len(statements) == 4, statements


def test_the_views_are_the_orm_objects_views(session: Session) -> None:
    actor, program, people = _cohort(session)
    ids = [p.id for p in people]
    session.expire_all()
    one = ParticipantSchema()
    shown = [one.dump(participants.get(session, actor, program.id, i)) for i in ids]
    assert shown == [one.dump(session.get_one(Participant, i)) for i in ids]
    assert (shown[2]["name"], shown[2]["external_id"]) == (ANONYMOUS, None)
    assert (shown[2]["email"], shown[2]["attributes"]) == (None, {})
    assert (shown[0]["exclude"], shown[0]["level"]) == (["e9"], 4)

    # A page, then the next one by its cursor: the same people, in upload order.
    first = participants.list_participants(session, actor, program.id, limit=2)
    rest = participants.list_participants(
        session, actor, program.id, limit=2, cursor=first.next_cursor
    )
    assert rest.next_cursor is None
    dumped = ParticipantListSchema().dump(first)
    assert dumped == {"items": shown[:2], "next_cursor": first.next_cursor}
    assert [one.dump(r) for r in rest.items] == shown[2:]
    mentees = participants.list_participants(
        session, actor, program.id, role="mentee", active=True, limit=10
    )
    assert [r.id for r in mentees.items] == [ids[2]]

    stored = session.get_one(Program, program.id)
    orm_view = ProgramSchema().dump(programs.ProgramView.of(stored, config_of(session, stored)))
    assert ProgramSchema().dump(programs.get(session, actor, program.id)) == orm_view
    listed = ProgramListSchema().dump(programs.list_programs(session, actor, limit=10))
    assert listed == {"items": [orm_view], "next_cursor": None}


def test_another_organizations_rows_are_not_read(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        a, a_program, _ = _cohort(session, "Acme")
        b, b_program, b_people = _cohort(session, "Globex")
    b_person = b_people[0].id

    def reads(session: Session, actor: Actor) -> list[Any]:
        """Each read of B's program and participant by ``actor``: its view, or NotFound."""
        found: list[Any] = []
        for read in (
            lambda: programs.get(session, actor, b_program.id).id,
            lambda: participants.get(session, actor, b_program.id, b_person).id,
            lambda: [
                r.id
                for r in participants.list_participants(
                    session, actor, b_program.id, limit=10
                ).items
            ][:1],
            lambda: [p.id for p in programs.list_programs(session, actor, limit=10).items],
        ):
            try:
                found.append(read())
            except NotFound:
                found.append(NotFound)
        return found

    # The reads' own criterion: A's actor finds nothing of B's, with no guard at all.
    with session_factory() as session:
        assert reads(session, a) == [NotFound, NotFound, NotFound, [a_program.id]]
    # The tenant guard's: a session scoped to A finds nothing of B's even for a read
    # that asks with B's organization (a service that took the wrong one).
    with session_factory() as session:
        scope_session(session, a.organization_id)
        assert reads(session, b) == [NotFound, NotFound, NotFound, []]
    # ...which B's own session does find.
    with session_factory() as session:
        scope_session(session, b.organization_id)
        assert reads(session, b) == [b_program.id, b_person, [b_person], [b_program.id]]


def test_a_missing_participant_or_program_is_named(session: Session) -> None:
    actor, program, _ = _cohort(session)
    nobody, nothing = uuid.uuid4(), uuid.uuid4()
    with pytest.raises(NotFound) as missing:
        participants.get(session, actor, program.id, nobody)
    assert missing.value.resource == "participant"
    with pytest.raises(NotFound) as missing:
        participants.get(session, actor, nothing, nobody)
    assert missing.value.resource == "program"
    with pytest.raises(NotFound) as missing:
        participants.list_participants(session, actor, nothing, limit=10)
    assert missing.value.resource == "program"
    with pytest.raises(NotFound) as missing:
        programs.get(session, actor, nothing)
    assert missing.value.resource == "program"

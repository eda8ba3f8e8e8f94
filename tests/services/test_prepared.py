"""models.prepared: the hot selects run on the driver's cursor on PostgreSQL, and keep
what the ordinary path gives: the same rows and types, the tenant guard, the
transaction's setting, SQLAlchemy's errors and its handling of a lost connection."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Integer, bindparam, create_engine, event, literal_column, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from api.services import match_views, outcomes, pagination, participants, programs
from models import Participant, Program
from models.prepared import PreparedSelect
from models.tenant_guard import TenantScopeError, require_scope, scope_session, unguarded
from tests.factories import (
    RUN_CONFIG,
    make_match,
    make_org,
    make_participant,
    make_program,
    make_run,
)


def _program(session: Session, name: str) -> tuple[Any, Program, Participant]:
    actor = make_org(session, name)
    program = make_program(session, actor, RUN_CONFIG)
    person = make_participant(session, program, "mentor", "m1", skills=["python"])
    session.commit()
    return actor, program, person


def _orm_executions(session: Session) -> list[object]:
    seen: list[object] = []
    event.listen(session, "do_orm_execute", seen.append)
    return seen


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_rows_are_the_ordinary_paths(session: Session) -> None:
    """Every PreparedSelect of the service gives, on the driver's cursor, the rows and
    value types ``Session.execute`` gives for its statement (SQLite runs the latter)."""
    actor, program, mentor = _program(session, "Acme")
    mentee = make_participant(session, program, "mentee", "e1")
    run = make_run(session, actor, program)
    matches = [make_match(session, run, mentee, mentor, score=0.25 * k) for k in (1, 2, 3)]
    session.commit()
    scope_session(session, actor.organization_id)
    org = actor.organization_id
    first = {"organization_id": org, "program_id": program.id, "page_limit": 3}
    cases: list[tuple[PreparedSelect, dict[str, Any]]] = [
        (programs._LIVE_VIEW, {"organization_id": org, "program_id": program.id}),
        (
            participants._PUBLIC_ONE,
            {"organization_id": org, "program_id": program.id, "participant_id": mentor.id},
        ),
        (match_views._REFS_BY_ARRAY, {"ids": [mentor.id, mentee.id]}),
        (outcomes._RECORDABLE_MATCH, {"organization_id": org, "match_id": matches[0].id}),
    ]
    for statement in (participants._PUBLIC_IN_PROGRAM, match_views.PROGRAM_MATCHES):
        pages = pagination._OFTEN_PAGED[statement]
        cases.append((pages.first, first))
        some = session.execute(pages.first.statement, first).all()[0]
        after = {**first, "cursor_at": some.created_at, "cursor_id": some.id}
        cases.append((pages.after, after))
    for prepared, params in cases:
        ordinary = session.execute(prepared.statement, params).all()
        fast = prepared.all(session, params)
        assert ordinary, prepared.statement  # something to compare
        assert [tuple(r) for r in fast] == [tuple(r) for r in ordinary]
        assert [[type(v) for v in r] for r in fast] == [[type(v) for v in r] for r in ordinary]
        assert [r._asdict() for r in fast] == [r._asdict() for r in ordinary]


def test_pages_through_the_prepared_selects_are_the_statements_pages(session: Session) -> None:
    """paginate over a registered statement: the same pages, cursors included, as over
    an equal statement that is not registered (the ordinary path)."""
    actor, program, _ = _program(session, "Acme")
    for k in range(5):
        make_participant(session, program, "mentee", f"e{k}")
    session.commit()
    scope_session(session, actor.organization_id)
    params = {"organization_id": actor.organization_id, "program_id": program.id}
    registered = participants._PUBLIC_IN_PROGRAM
    unregistered = registered.where(Participant.active.is_not(None))  # every row, new object
    assert registered in pagination._OFTEN_PAGED
    assert unregistered not in pagination._OFTEN_PAGED

    def pages(stmt: Any) -> list[tuple[list[tuple[Any, ...]], str | None]]:
        out, cursor = [], None
        while True:
            page = pagination.paginate(
                session,
                stmt,
                Participant.created_at,
                Participant.id,
                limit=2,
                cursor=cursor,
                params=params,
            )
            out.append(([tuple(r) for r in page.items], page.next_cursor))
            if page.next_cursor is None:
                return out
            cursor = page.next_cursor

    got = pages(registered)
    assert len(got) == 3  # 6 participants, 2 a page
    assert got == pages(unregistered)


def test_postgresql_reads_skip_the_orm_and_listeners_see_the_statement(
    session: Session,
) -> None:
    actor, program, _ = _program(session, "Acme")
    scope_session(session, actor.organization_id)
    orm = _orm_executions(session)
    sent: list[str] = []
    engine = session.get_bind()

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        row = programs._LIVE_VIEW.one_or_none(
            session, {"organization_id": actor.organization_id, "program_id": program.id}
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert row is not None
    assert row.id == program.id
    selects = [s for s in sent if s.startswith("SELECT programs.id")]
    assert len(selects) == 1
    if engine.dialect.name == "postgresql":
        assert orm == []  # the driver's cursor, not Session.execute
        assert "mentormatch_guard_organization_id" in selects[0]  # the guard compiled in
    else:
        assert len(orm) == 1  # SQLite: the ordinary path


_BY_ID_ONLY = PreparedSelect(select(Program.id).where(Program.id == bindparam("program_id")))


def test_the_tenant_guard_holds_for_a_select_without_its_own_criterion(
    session_factory: sessionmaker[Session],
) -> None:
    """The statement names no organization: only the guard keeps B's program from A."""
    with session_factory() as session:
        a, _, _ = _program(session, "Acme")
        _, b_program, _ = _program(session, "Globex")
    params = {"program_id": b_program.id}
    with session_factory() as session:
        scope_session(session, a.organization_id)
        assert _BY_ID_ONLY.all(session, params) == []
    with session_factory() as session:
        scope_session(session, b_program.organization_id)
        assert [r.id for r in _BY_ID_ONLY.all(session, params)] == [b_program.id]
    with session_factory() as session:
        require_scope(session)
        with pytest.raises(TenantScopeError):
            _BY_ID_ONLY.all(session, params)
    with session_factory() as session:
        require_scope(session)
        with unguarded(session):  # cross-organization maintenance sees every row
            assert [r.id for r in _BY_ID_ONLY.all(session, params)] == [b_program.id]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_driver_error_is_sqlalchemys_and_the_session_recovers(session: Session) -> None:
    failing = PreparedSelect(select(literal_column("1") / bindparam("zero", type_=Integer)))
    with pytest.raises(DBAPIError) as caught:
        failing.all(session, {"zero": 0})
    assert caught.value.connection_invalidated is False
    assert getattr(caught.value.orig, "sqlstate", None) == "22012"  # division by zero
    assert "parameters hidden" in str(caught.value)
    session.rollback()
    assert session.execute(text("SELECT 1")).scalar() == 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_lost_connection_is_invalidated_as_sqlalchemy_does(session: Session, db_url: str) -> None:
    actor, program, _ = _program(session, "Acme")
    scope_session(session, actor.organization_id)
    params = {"organization_id": actor.organization_id, "program_id": program.id}
    backend = session.execute(text("SELECT pg_backend_pid()")).scalar()
    killer = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with killer.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    killer.dispose()
    with pytest.raises(DBAPIError) as caught:
        programs._LIVE_VIEW.all(session, params)
    assert caught.value.connection_invalidated is True  # what api.faults answers 503 to
    session.close()
    scope_session(session, actor.organization_id)
    row = programs._LIVE_VIEW.one_or_none(session, params)  # a new connection
    assert row is not None
    assert row.id == program.id


def test_an_expanding_parameter_is_refused_when_compiled(session: Session) -> None:
    many = PreparedSelect(
        select(Program.id).where(Program.id.in_(bindparam("ids", expanding=True)))
    )
    scope_session(session, uuid.uuid4())
    if session.get_bind().dialect.name == "postgresql":
        with pytest.raises(ValueError, match="expanding"):
            many.all(session, {"ids": [uuid.uuid4()]})
    else:
        assert many.all(session, {"ids": [uuid.uuid4()]}) == []


def test_pending_changes_are_flushed_first(session: Session) -> None:
    """As Session.execute's autoflush: the read sees the session's own unflushed change."""
    actor, program, _ = _program(session, "Acme")
    scope_session(session, actor.organization_id)
    program.name = "Renamed, not flushed"
    row = programs._LIVE_VIEW.one_or_none(
        session, {"organization_id": actor.organization_id, "program_id": program.id}
    )
    assert row is not None
    assert row.name == "Renamed, not flushed"

"""models.bulk.insert_rows: the rows an ordinary insert would store, in one statement
per batch on PostgreSQL, under the tables' row-level security."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import ARRAY, Column, Integer, MetaData, String, Table, event, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from models import Match, UnmatchedMentee
from models.bulk import insert_rows
from models.tenant_guard import scope_session
from tests.factories import RUN_CONFIG, make_org, make_participant, make_program, make_run

MATCHES = cast(Table, Match.__table__)
COLUMNS = [c.name for c in MATCHES.c]


def _people(session: Session) -> tuple[Any, Any, list[Any], list[Any]]:
    actor = make_org(session, "Acme")
    program = make_program(session, actor, RUN_CONFIG)
    run = make_run(session, actor, program, dry_run=True)
    mentees = [make_participant(session, program, "mentee", f"e{k}") for k in range(4)]
    mentors = [make_participant(session, program, "mentor", f"m{k}") for k in range(4)]
    session.commit()
    return actor, run, mentees, mentors


def _rows(run: Any, mentees: list[Any], mentors: list[Any]) -> list[dict[str, Any]]:
    """Proposals with every kind of value a column holds: nested JSON with unicode and
    floats, NULLs beside values, timestamps with microseconds and other offsets."""
    now = datetime(2026, 12, 3, 10, 30, 15, 123456, tzinfo=UTC)
    rows = []
    for k, (mentee, mentor) in enumerate(zip(mentees, mentors, strict=True)):
        rows.append(
            {
                "id": uuid.uuid4(),
                "organization_id": run.organization_id,
                "program_id": run.program_id,
                "run_id": run.id,
                "mentee_id": mentee.id,
                "mentor_id": mentor.id,
                "status": "proposed",
                "score": 0.1 + k / 3,
                "breakdown": [{"criterion": "skills", "weight": 0.5, "sim": 1 / 3}] * k,
                "reasons": [f"both speak {'français' if k % 2 else 'English'} — «ok»"],
                "predicted_success": None if k % 2 else 0.25 * k,
                "version": 1 + k,
                "created_at": now + timedelta(seconds=k),
                "updated_at": (now + timedelta(minutes=k)).astimezone(timezone(timedelta(hours=5))),
                "edited_by": None,
                "published_by": None,
                "published_at": None,
                "ended_by": None,
                "ended_at": None,
                "ended_reason": "ended: «early»" if k == 3 else None,
            }
        )
    return rows


def _stored(session: Session, ids: list[uuid.UUID]) -> list[tuple[Any, ...]]:
    found = session.execute(select(MATCHES).where(MATCHES.c.id.in_(ids)).order_by(MATCHES.c.score))
    return [tuple(row) for row in found]


def test_the_rows_stored_are_the_ordinary_inserts(session: Session) -> None:
    """Each column's value reads back as it does after ``Session.execute(insert(...))``."""
    _, run, mentees, mentors = _people(session)
    rows = _rows(run, mentees, mentors)
    assert set(rows[0]) == set(COLUMNS)  # every column, so none is left to a default
    ids = [row["id"] for row in rows]
    session.execute(insert(MATCHES), rows)
    session.commit()
    expected = _stored(session, ids)
    session.execute(MATCHES.delete())
    session.commit()
    insert_rows(session, MATCHES, rows)
    session.commit()
    assert _stored(session, ids) == expected
    assert len(expected) == 4


def test_postgresql_gets_one_statement_per_batch(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    _, run, mentees, mentors = _people(session)
    rows = _rows(run, mentees, mentors)
    statements: list[str] = []
    engine = session_factory.kw["bind"]
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        insert_rows(session, MATCHES, rows, batch=3)
        session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    inserts = [s for s in statements if s.startswith("INSERT")]
    if session.get_bind().dialect.name == "postgresql":
        assert len(inserts) == 2  # 3 rows, then 1
        assert all("unnest(" in s for s in inserts)
    assert len(_stored(session, [r["id"] for r in rows])) == 4


def test_rows_of_different_columns_are_refused_before_anything_is_written(
    session: Session,
) -> None:
    _, run, mentees, mentors = _people(session)
    rows = _rows(run, mentees, mentors)
    del rows[2]["ended_reason"]
    with pytest.raises(ValueError, match="same columns"):
        insert_rows(session, MATCHES, rows)
    session.rollback()
    assert _stored(session, [r["id"] for r in rows]) == []


def test_nothing_to_insert_sends_nothing(session: Session) -> None:
    insert_rows(session, cast(Table, UnmatchedMentee.__table__), [])
    assert not session.in_transaction()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_row_level_security_checks_every_row(session_factory: sessionmaker[Session]) -> None:
    """As the application role in A's transaction, one row of B among A's fails the
    whole statement: none of them is stored."""
    with session_factory() as session:
        _, run, mentees, mentors = _people(session)
        other = make_org(session, "Globex")
        session.commit()
        rows = _rows(run, mentees, mentors)
        rows[3]["organization_id"] = other.organization_id
        org = run.organization_id
    with session_factory() as session:
        scope_session(session, org)
        session.execute(text("SET LOCAL ROLE mentormatch_app"))
        with pytest.raises(DBAPIError, match="row-level security"):
            insert_rows(session, MATCHES, rows)
        session.rollback()
    with session_factory() as session:
        assert _stored(session, [r["id"] for r in rows]) == []


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_string_too_long_for_its_column_is_refused_as_an_insert_refuses_it(
    session: Session,
) -> None:
    """Not cut to the column's length (what an explicit cast to VARCHAR(n) would do)."""
    _, run, mentees, mentors = _people(session)
    rows = _rows(run, mentees, mentors)
    rows[1]["ended_reason"] = "x" * 501  # VARCHAR(500)
    with pytest.raises(DBAPIError, match="too long"):
        session.execute(insert(MATCHES), rows)
    session.rollback()
    with pytest.raises(DBAPIError, match="too long"):
        insert_rows(session, MATCHES, rows)
    session.rollback()
    assert _stored(session, [r["id"] for r in rows]) == []


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_an_array_column_is_refused(session: Session) -> None:
    tagged = Table("tagged", MetaData(), Column("id", Integer), Column("tags", ARRAY(String)))
    with pytest.raises(ValueError, match=r"tagged\.tags: array columns are not supported"):
        insert_rows(session, tagged, [{"id": 1, "tags": ["a"]}])

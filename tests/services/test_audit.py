"""The audit log: listing with filters, and the hash chain catching every tampering."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from api.cli import main
from api.services import audit
from api.services.context import Actor
from api.services.errors import ValidationFailed
from models import AuditEvent
from tests.factories import make_org


def _chain(session: Session, n: int = 5) -> Actor:
    actor = make_org(session)  # organization.created, admin.created, key.created
    program_id = uuid.uuid4()
    for i in range(n):
        audit.record(
            session,
            actor,
            "match.edited" if i % 2 else "match.published",
            program_id=program_id if i < 3 else None,
            target_type="match",
            target_ids=[uuid.uuid4()],
            details={"count": i},
        )
    session.commit()
    return actor


@contextmanager
def _tampering(session: Session) -> Iterator[Connection]:
    """A connection that may rewrite audit_events, as a tamperer with DDL rights would."""
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
    yield conn
    if postgres:
        conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    session.commit()


def _id(session: Session, actor: Actor, seq: int) -> uuid.UUID:
    return session.scalars(
        select(AuditEvent.id).where(
            AuditEvent.organization_id == actor.organization_id, AuditEvent.seq == seq
        )
    ).one()


def test_fresh_chain_is_valid_and_details_survive_the_json_round_trip(session: Session) -> None:
    actor = _chain(session)
    # Key order, integral floats (JSONB turns 1e20 into an int), unicode.
    audit.record(
        session,
        actor,
        "data.exported",
        details={"z": 1, "a": {"y": 0.1, "b": 1e20, "c": 2.0}, "u": "é", "l": [3.5, 1]},
    )
    session.commit()
    session.expunge_all()  # read everything back from the database
    report = audit.verify(session, actor.organization_id)
    assert report == audit.ChainReport(True, 9)


def test_edited_event_is_detected(session: Session) -> None:
    actor = _chain(session)
    target = _id(session, actor, 5)
    with _tampering(session) as conn:
        conn.execute(
            text("UPDATE audit_events SET action = 'match.rejected' WHERE id = :id"),
            {"id": target.hex if conn.dialect.name == "sqlite" else target},
        )
    session.expunge_all()
    report = audit.verify(session, actor.organization_id)
    assert not report.valid
    assert report.first_bad_seq == 5
    assert "content" in report.problem


def test_deleted_event_is_detected(session: Session) -> None:
    actor = _chain(session)
    target = _id(session, actor, 4)
    with _tampering(session) as conn:
        conn.execute(
            text("DELETE FROM audit_events WHERE id = :id"),
            {"id": target.hex if conn.dialect.name == "sqlite" else target},
        )
    report = audit.verify(session, actor.organization_id)
    assert not report.valid
    assert report.first_bad_seq == 4
    assert report.problem == "event 4 is missing"


def test_deleted_newest_event_is_detected(session: Session) -> None:
    actor = _chain(session)
    target = _id(session, actor, 8)
    with _tampering(session) as conn:
        conn.execute(
            text("DELETE FROM audit_events WHERE id = :id"),
            {"id": target.hex if conn.dialect.name == "sqlite" else target},
        )
    report = audit.verify(session, actor.organization_id)
    assert not report.valid
    assert report.first_bad_seq == 8


def test_swapped_events_are_detected(session: Session) -> None:
    actor = _chain(session)
    a, b = _id(session, actor, 5), _id(session, actor, 6)
    with _tampering(session) as conn:
        key = (lambda u: u.hex) if conn.dialect.name == "sqlite" else (lambda u: u)
        for ident, seq in ((a, -1), (b, 5), (a, 6)):
            conn.execute(
                text("UPDATE audit_events SET seq = :seq WHERE id = :id"),
                {"seq": seq, "id": key(ident)},
            )
    session.expunge_all()
    report = audit.verify(session, actor.organization_id)
    assert not report.valid
    assert report.first_bad_seq == 5


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # the trigger is PostgreSQL's
def test_postgres_refuses_update_and_delete(session: Session) -> None:
    actor = _chain(session, 1)
    for statement in (
        "UPDATE audit_events SET action = 'x' WHERE organization_id = :org",
        "DELETE FROM audit_events WHERE organization_id = :org",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement), {"org": actor.organization_id})
        session.rollback()
    assert audit.verify(session, actor.organization_id).valid


def test_list_filters_and_pages_by_seq(session: Session) -> None:
    actor = _chain(session)
    other = _chain(session)
    everything = audit.list_events(session, actor, limit=100)
    assert [e.seq for e in everything.items] == list(range(1, 9))
    assert {e.organization_id for e in everything.items} == {actor.organization_id}
    assert everything.next_cursor is None

    first = audit.list_events(session, actor, limit=3)
    second = audit.list_events(session, actor, limit=3, cursor=first.next_cursor)
    assert [e.seq for e in first.items + second.items] == list(range(1, 7))
    newest = audit.list_events(session, actor, limit=2, order="desc")
    assert [e.seq for e in newest.items] == [8, 7]
    older = audit.list_events(session, actor, limit=2, order="desc", cursor=newest.next_cursor)
    assert [e.seq for e in older.items] == [6, 5]

    published = audit.list_events(session, actor, action="match.published")
    assert [e.details["count"] for e in published.items] == [0, 2, 4]
    program_id = published.items[0].program_id
    assert len(audit.list_events(session, actor, program_id=program_id).items) == 3
    assert len(audit.list_events(session, actor, actor_id=actor.admin_id).items) == 5
    assert audit.list_events(session, actor, actor_id=other.admin_id).items == []

    stamps = [e.created_at for e in everything.items]
    window = audit.list_events(session, actor, since=stamps[3], until=stamps[5])
    assert [e.seq for e in window.items] == [4, 5]
    future = datetime.now(UTC) + timedelta(days=1)
    assert audit.list_events(session, actor, since=future).items == []
    for bad in ({"cursor": "nope"}, {"since": future, "until": stamps[0]}, {"limit": 0}):
        with pytest.raises(ValidationFailed):
            audit.list_events(session, actor, **bad)


def test_cli_verify_exit_codes(
    db_url: str, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MENTORMATCH_DATABASE_URL", db_url)
    actor = _chain(session)
    fine = _chain(session)
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.count("valid, 8 events") == 2

    target = _id(session, actor, 2)
    with _tampering(session) as conn:
        conn.execute(
            text("UPDATE audit_events SET details = '{\"count\": 9}' WHERE id = :id"),
            {"id": target.hex if conn.dialect.name == "sqlite" else target},
        )
    broken = runner.invoke(main, ["audit", "verify"])
    assert broken.exit_code == 1
    assert f"organization {actor.organization_id}: BROKEN" in broken.output
    assert "first bad seq 2" in broken.output
    one = runner.invoke(main, ["audit", "verify", "--org", str(fine.organization_id)])
    assert one.exit_code == 0
    assert str(actor.organization_id) not in one.output

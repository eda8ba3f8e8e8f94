"""A request whose PostgreSQL transaction only read ends it with COMMIT, so psycopg
keeps the connection's prepared statements (it drops them all at a ROLLBACK); any
transaction that sent something else is rolled back as before, and a change never
flushed is never sent (api/db.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text, update

from api import db
from models import Program
from models.tenant_guard import scope_session
from tests.factories import RUN_CONFIG, Tenant

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _prepared_statements(app: Any) -> int:
    """How many statements the app's pooled connection has prepared (one connection:
    the test client's requests run one at a time, on this thread)."""
    engine = app.extensions["mentormatch"].engine
    assert engine.pool.checkedin() == 1
    with engine.connect() as conn:
        count = int(conn.scalar(text("SELECT count(*) FROM pg_prepared_statements")))
        conn.commit()  # a ROLLBACK would drop them (the point of api.db's COMMIT)
    return count


def _program(client: Any, tenant: Tenant) -> str:
    created = client.post(
        "/v1/programs", json={"name": "P", "config": RUN_CONFIG}, headers=tenant.headers
    )
    assert created.status_code == 201, created.json
    return str(created.json["id"])


def test_repeated_reads_are_prepared_and_kept_across_requests(
    app: Any, client: Any, tenant: Tenant
) -> None:
    url = f"/v1/programs/{_program(client, tenant)}"
    for _ in range(8):  # psycopg prepares a statement at its sixth use on a connection
        assert client.get(url, headers=tenant.headers).status_code == 200
    kept = _prepared_statements(app)
    assert kept >= 2  # the key lookup and the program's read, at least
    assert client.get(url, headers=tenant.headers).status_code == 200
    assert _prepared_statements(app) == kept  # reused, not prepared again


def _name_after(app: Any, tenant: Tenant, pid: str, change: Any) -> str:
    """The program's name once a GET request's view ran ``change`` on its session and
    the request ended without committing."""
    with app.test_request_context(f"/v1/programs/{pid}", method="GET"):
        session = db.get_session()
        scope_session(session, tenant.organization_id)
        change(session)
        app.do_teardown_appcontext()
    with app.app_context():
        session = app.extensions["mentormatch"].session_factory()
        scope_session(session, tenant.organization_id)
        name = session.get(Program, uuid.UUID(pid)).name
        session.close()
    return str(name)


def test_a_request_that_wrote_without_committing_is_still_rolled_back(
    app: Any, client: Any, tenant: Tenant
) -> None:
    pid = _program(client, tenant)
    program_id = uuid.UUID(pid)

    def core_update(session: Any) -> None:
        session.execute(update(Program).where(Program.id == program_id).values(name="Core"))

    def text_update(session: Any) -> None:
        session.execute(text("UPDATE programs SET name = 'Text' WHERE id = :id"), {"id": pid})

    def flushed(session: Any) -> None:
        session.get(Program, program_id).name = "Flushed"
        session.flush()

    def unflushed(session: Any) -> None:
        session.get(Program, program_id).name = "Unflushed"

    def then_a_savepoint_left_open(session: Any) -> None:
        core_update(session)
        session.begin_nested()  # its begin must not forget the UPDATE before it
        session.get(Program, program_id)

    for change in (core_update, text_update, flushed, unflushed, then_a_savepoint_left_open):
        assert _name_after(app, tenant, pid, change) == "P", change.__name__


def test_a_request_whose_connection_was_invalidated_ends_quietly(
    app: Any, client: Any, tenant: Tenant
) -> None:
    """A dropped connection (api.faults answered 503) is not committed: the session's
    close discards it, and the next request gets a new one."""
    pid = _program(client, tenant)
    with app.test_request_context(f"/v1/programs/{pid}", method="GET"):
        session = db.get_session()
        scope_session(session, tenant.organization_id)
        session.get(Program, uuid.UUID(pid))
        session.connection().invalidate()
        app.do_teardown_appcontext()  # raised PendingRollbackError before
    assert client.get(f"/v1/programs/{pid}", headers=tenant.headers).status_code == 200


def test_a_commit_that_fails_leaves_the_rollback_to_close(
    app: Any, client: Any, tenant: Tenant, monkeypatch: Any
) -> None:
    pid = _program(client, tenant)
    with app.test_request_context(f"/v1/programs/{pid}", method="GET"):
        session = db.get_session()
        scope_session(session, tenant.organization_id)
        session.get(Program, uuid.UUID(pid))
        raw = session.connection().connection.dbapi_connection
        dbapi = session.connection().dialect.loaded_dbapi

        def dropped() -> None:
            raise dbapi.OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(raw, "commit", dropped)
        app.do_teardown_appcontext()
    assert client.get(f"/v1/programs/{pid}", headers=tenant.headers).status_code == 200

"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, func, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from models import Base, Match, Organization, Participant, Program, Run, make_engine
from models.migrate import alembic_config, sqlite_foreign_keys_off, upgrade


def test_migrations_match_models(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"


def test_the_check_constraints_are_the_models(db_url: str) -> None:
    # compare_metadata leaves CHECK constraints out: compare their names directly.
    engine = make_engine(db_url)
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        declared = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        reflected = {c["name"] for c in inspector.get_check_constraints(table.name)}
        assert reflected == declared, table.name
    engine.dispose()


def test_migrating_keeps_the_rows_of_rebuilt_tables(db_url: str) -> None:
    # 0002 rebuilds runs and participants on SQLite; with foreign keys enforced, dropping
    # the old tables would cascade-delete their matches (models.migrate prevents it).
    engine = make_engine(db_url)
    org, program, run, mentee, mentor = (uuid.uuid4() for _ in range(5))
    owned = {"organization_id": org, "program_id": program}
    with engine.begin() as conn:
        conn.execute(insert(Organization).values(id=org, name="Acme", audit_head="0" * 64))
        conn.execute(insert(Program).values(id=program, organization_id=org, name="P"))
        for pid, role in ((mentee, "mentee"), (mentor, "mentor")):
            conn.execute(insert(Participant).values(id=pid, role=role, name=role, **owned))
        conn.execute(insert(Run).values(id=run, status="succeeded", config_version=1, **owned))
        pair = {"run_id": run, "mentee_id": mentee, "mentor_id": mentor}
        conn.execute(insert(Match).values(status="published", score=0.5, **pair, **owned))
    try:
        command.downgrade(alembic_config(db_url), "0001")
    finally:
        upgrade(db_url)
    with engine.connect() as conn:
        counts = {
            m.__tablename__: conn.scalar(select(func.count()).select_from(m))
            for m in (Run, Participant, Match)
        }
    engine.dispose()
    assert counts == {"runs": 1, "participants": 2, "matches": 1}


def test_0011_backfills_mentees_load_and_publishes_a_pair_once(db_url: str) -> None:
    engine = make_engine(db_url)
    org, program, run, mentee, m1, m2 = (uuid.uuid4() for _ in range(6))
    owned = {"organization_id": org, "program_id": program}

    def published(mentor: uuid.UUID) -> dict[str, object]:
        pair = {"run_id": run, "mentee_id": mentee, "mentor_id": mentor}
        return {"status": "published", "score": 0.5, **pair, **owned}

    with engine.begin() as conn:
        conn.execute(insert(Organization).values(id=org, name="Acme", audit_head="0" * 64))
        conn.execute(insert(Program).values(id=program, organization_id=org, name="P"))
        for pid, role in ((mentee, "mentee"), (m1, "mentor"), (m2, "mentor")):
            conn.execute(insert(Participant).values(id=pid, role=role, name=role, **owned))
        conn.execute(insert(Run).values(id=run, status="succeeded", config_version=1, **owned))
        conn.execute(insert(Match).values(**published(m1)))
    load = select(Participant.published_load).where(Participant.id == mentee)
    try:
        command.downgrade(alembic_config(db_url), "0010")
        with engine.connect() as conn:
            assert conn.scalar(load) == 0  # before 0011 only mentors' load was kept
        upgrade(db_url)
        with engine.begin() as conn:
            assert conn.scalar(load) == 1  # backfilled from the published match
            conn.execute(insert(Match).values(**published(m2)))  # a second mentor: fine
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(Match).values(**published(m1)))  # the same pair again
        with pytest.raises(RuntimeError, match="more than one published match"):
            _downgrade_on_own_connection(db_url, "0010")
    finally:
        upgrade(db_url)
    engine.dispose()


def _downgrade_on_own_connection(db_url: str, revision: str) -> None:
    """A downgrade whose connection is closed even when a migration raises."""
    engine = make_engine(db_url)
    try:
        with (
            engine.connect() as connection,
            sqlite_foreign_keys_off(connection),
            connection.begin(),
        ):
            config = alembic_config(db_url)
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_migrations_run_as_an_owner_that_is_no_superuser() -> None:
    """README, "Production setup on PostgreSQL": a role that owns the database and is no
    superuser runs every migration (a function's ``SET`` clause on the tenant setting,
    for one, would need a superuser), and the service's role then authenticates
    through the lookup function of 0012."""
    import os

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from tests.conftest import PG_ENV

    admin_url = os.environ[PG_ENV].replace("postgresql://", "postgresql+psycopg://", 1)
    suffix = uuid.uuid4().hex[:10]
    owner, name = f"mm_owner_{suffix}", f"mm_owner_db_{suffix}"
    maintenance = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with maintenance.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{owner}" LOGIN NOSUPERUSER NOCREATEROLE'))
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER "{owner}"'))
        conn.execute(  # created beforehand by the DBA, as the README says
            text(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                "'mentormatch_app') THEN CREATE ROLE mentormatch_app NOLOGIN; END IF; END $$"
            )
        )
    url = make_url(admin_url).set(database=name, username=owner)
    try:
        upgrade(url.render_as_string(hide_password=False))
        service = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        engine = make_engine(service, poolclass=NullPool)
        with engine.connect() as conn:  # as the service would: the application's role
            conn.execute(text("SET ROLE mentormatch_app"))
            unknown = conn.execute(
                text("SELECT * FROM mentormatch_api_key(:k)"), {"k": uuid.uuid4()}
            ).all()
            assert unknown == []
            setting = "SELECT current_setting('mentormatch.organization_id', true)"
            assert conn.execute(text(setting)).scalar() in (None, "")  # put back
        engine.dispose()
    finally:
        with maintenance.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{owner}"'))
        maintenance.dispose()

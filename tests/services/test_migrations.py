"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

import uuid

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, func, insert, inspect, select

from models import Base, Match, Organization, Participant, Program, Run, make_engine
from models.migrate import alembic_config, upgrade


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

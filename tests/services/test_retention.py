"""Retention: deleted programs and organizations are purged once the period is over."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from api.app import make_jobs
from api.services import audit, programs, retention
from api.services.context import Actor
from api.settings import Settings
from models import AuditEvent, Base, Organization, Program
from tests.factories import Scenario, make_org, proposals, with_outcome_and_prior

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
DAYS = 30


def _program_with_everything(session: Session, actor: Actor | None = None) -> Scenario:
    """3 proposals (one with an outcome), 1 unmatched, 8 participants, a weights version."""
    scenario = with_outcome_and_prior(session, proposals(session, actor))
    session.commit()
    return scenario


#: What :func:`_program_with_everything` leaves behind, per table.
EVERYTHING = {
    "outcomes": 1,
    "unmatched_mentees": 1,
    "matches": 3,
    "runs": 1,
    "weights_versions": 1,
    "participants": 8,
    "program_configs": 1,
    "programs": 1,
}


def _deleted(session: Session, program: Program, at: datetime) -> None:
    program.deleted_at = at
    session.commit()


def _rows(session: Session, program_id: uuid.UUID) -> dict[str, int]:
    """Rows per table the purge of ``program_id`` would select, counted independently."""
    return {
        table.name: session.scalar(select(func.count()).select_from(table).where(where)) or 0
        for table, where in retention.program_rows(program_id)
    }


def _everything(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    return {
        t.name: sorted(map(tuple, session.execute(select(t))), key=repr)
        for t in Base.metadata.sorted_tables
    }


def test_purge_deletes_what_is_due_and_keeps_what_is_not(session: Session) -> None:
    actor = make_org(session)
    due = _program_with_everything(session, actor)
    not_yet = _program_with_everything(session, actor)
    live = _program_with_everything(session, actor)
    _deleted(session, due.program, NOW - timedelta(days=DAYS, seconds=1))
    _deleted(session, not_yet.program, NOW - timedelta(days=DAYS - 1))

    report = retention.purge_due(session, now=NOW, retention_days=DAYS)

    assert [(p.kind, p.id) for p in report.purged] == [("program", due.program.id)]
    assert report.purged[0].rows == EVERYTHING
    assert report.totals == dict(sorted(EVERYTHING.items()))
    assert report.cutoff == NOW - timedelta(days=DAYS)
    assert _rows(session, due.program.id) == dict.fromkeys(EVERYTHING, 0)
    assert _rows(session, not_yet.program.id) == EVERYTHING
    assert _rows(session, live.program.id) == EVERYTHING
    # A day later the other one is due too; a second purge finds nothing left of the first.
    later = retention.purge_due(session, now=NOW + timedelta(days=1), retention_days=DAYS)
    assert [(p.id, p.rows) for p in later.purged] == [(not_yet.program.id, EVERYTHING)]


def test_a_program_deleted_exactly_the_retention_period_ago_is_due(session: Session) -> None:
    scenario = _program_with_everything(session)
    _deleted(session, scenario.program, NOW - timedelta(days=DAYS))
    report = retention.purge_due(session, now=NOW, retention_days=DAYS)
    assert [p.id for p in report.purged] == [scenario.program.id]


def test_a_dry_run_counts_the_same_rows_and_writes_nothing(session: Session) -> None:
    scenario = _program_with_everything(session)
    _deleted(session, scenario.program, NOW - timedelta(days=DAYS + 1))
    before = _everything(session)

    dry = retention.purge_due(session, now=NOW, retention_days=DAYS, dry_run=True)

    assert dry.dry_run
    assert [(p.id, p.rows) for p in dry.purged] == [(scenario.program.id, EVERYTHING)]
    session.expire_all()
    assert _everything(session) == before  # not even the program.purged event
    real = retention.purge_due(session, now=NOW, retention_days=DAYS)
    assert [p.rows for p in real.purged] == [p.rows for p in dry.purged]


def test_the_chain_verifies_after_a_purge_and_keeps_the_programs_events(
    session: Session,
) -> None:
    actor = make_org(session)
    view = programs.create_program(
        session, actor, name="Spring", config={"criteria": [{"name": "s", "kind": "skill_overlap"}]}
    )
    programs.delete_program(session, actor, view.id)
    before = session.scalars(
        select(AuditEvent.action).where(AuditEvent.program_id == view.id).order_by(AuditEvent.seq)
    ).all()
    assert before == ["program.created", "program.deleted"]

    report = retention.purge_due(
        session, now=datetime.now(UTC) + timedelta(days=DAYS + 1), retention_days=DAYS
    )

    assert [p.id for p in report.purged] == [view.id]
    assert session.get(Program, view.id) is None
    chain = audit.verify(session, actor.organization_id)
    assert chain.valid, chain.problem
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.program_id == view.id).order_by(AuditEvent.seq)
    ).all()
    assert [e.action for e in events] == ["program.created", "program.deleted", "program.purged"]
    purged = events[-1]
    assert purged.actor_id is None  # the system
    assert (purged.target_type, purged.target_ids) == ("program", [str(view.id)])
    # Ids and counts only: the details are table names mapped to integers.
    assert purged.details == {"rows": report.purged[0].rows}
    assert all(isinstance(n, int) for n in purged.details["rows"].values())
    assert purged.details["rows"]["programs"] == 1


def _tables_below(name: str) -> set[str]:
    """Every table whose rows point, through foreign keys, at a row of ``name``."""
    found: set[str] = set()
    frontier = {name}
    while frontier:
        frontier = {
            t.name
            for t in Base.metadata.sorted_tables
            for fk in t.foreign_keys
            if fk.column.table.name in frontier and t.name not in found | {name}
        }
        found |= frontier
    return found


def test_every_table_keyed_to_a_program_is_in_its_purge() -> None:
    """A new table pointing at a program (or at its rows) fails here until purged too."""
    planned = [t.name for t, _ in retention.program_rows(uuid.uuid4())]
    assert set(planned) == _tables_below("programs") | {"programs"}
    # Dependents before what they point at, so no foreign key is ever left dangling.
    position = {name: i for i, name in enumerate(planned)}
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            parent = fk.column.table.name
            if table.name in position and parent in position and parent != table.name:
                assert position[table.name] < position[parent], (table.name, parent)


def test_every_table_but_organizations_is_in_an_organizations_purge() -> None:
    planned = [t.name for t, _ in retention.organization_rows(uuid.uuid4())]
    assert sorted(planned) == sorted(t.name for t in Base.metadata.sorted_tables)
    assert planned[-1] == "organizations"
    assert all(isinstance(t, Table) for t, _ in retention.organization_rows(uuid.uuid4()))


def test_the_worker_runs_the_purge_daily(
    session_factory: sessionmaker[Session], db_url: str, tmp_path: Any
) -> None:
    settings = Settings.from_env().with_overrides(
        {"DATABASE_URL": db_url, "JOBS_PATH": str(tmp_path / "jobs.sqlite3")}
    )
    jobs = make_jobs(settings, session_factory)
    at_3_17 = datetime(2027, 3, 1, 3, 17)
    due = [t.name for t in jobs.huey.read_periodic(at_3_17)]
    assert retention.DAILY_TASK in due
    assert retention.DAILY_TASK not in [
        t.name for t in jobs.huey.read_periodic(at_3_17.replace(hour=4))
    ]

    with session_factory() as s:
        scenario = _program_with_everything(s)
        _deleted(
            s, scenario.program, datetime.now(UTC) - timedelta(days=settings.retention_days + 1)
        )
    task = next(t for t in jobs.huey.read_periodic(at_3_17) if t.name == retention.DAILY_TASK)
    jobs.huey.execute(task)
    with session_factory() as s:
        assert _rows(s, scenario.program.id) == dict.fromkeys(EVERYTHING, 0)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # the trigger is PostgreSQL's
def test_the_audit_trigger_lets_only_an_offboarding_purge_delete(session: Session) -> None:
    actor = make_org(session)
    org = str(actor.organization_id)
    delete = text("DELETE FROM audit_events WHERE organization_id = :org")
    purge_setting = text("SELECT set_config('mentormatch.purge_organization', :org, true)")
    # Named in the setting, but not deleted: refused.
    session.execute(purge_setting, {"org": org})
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(delete, {"org": org})
    session.rollback()
    # Deleted, but not named in the setting: refused.
    organization = session.get(Organization, actor.organization_id)
    assert organization is not None
    organization.deleted_at = NOW
    session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(delete, {"org": org})
    session.rollback()
    assert audit.verify(session, actor.organization_id).valid
    # Both: the purge's own path.
    session.execute(purge_setting, {"org": org})
    session.execute(delete, {"org": org})
    session.rollback()


def test_the_purge_command_prints_rows_per_table(
    session: Session, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from api.cli import main

    scenario = _program_with_everything(session)
    _deleted(session, scenario.program, datetime.now(UTC) - timedelta(days=DAYS + 1))
    pid = scenario.program.id
    monkeypatch.setenv("MENTORMATCH_DATABASE_URL", db_url)
    monkeypatch.setenv("MENTORMATCH_RETENTION_DAYS", str(DAYS))
    runner = CliRunner()

    dry = runner.invoke(main, ["purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"would purge program {pid}" in dry.output
    assert "  participants: 8\n" in dry.output
    session.expire_all()
    assert _rows(session, pid) == EVERYTHING
    session.rollback()  # SQLite: a transaction holds the write lock the purge needs

    done = runner.invoke(main, ["purge"])
    assert done.exit_code == 0, done.output
    assert f"purged program {pid}" in done.output
    assert "  matches: 3\n" in done.output
    assert done.output.splitlines()[-1].startswith("1 due")
    assert _rows(session, pid) == dict.fromkeys(EVERYTHING, 0)
    session.rollback()

    nothing = runner.invoke(main, ["purge"])
    assert nothing.output.splitlines()[-1].endswith("rows deleted: none")

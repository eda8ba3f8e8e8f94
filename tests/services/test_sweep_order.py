"""The workers' sweep takes its rows in id order and never waits for a lock
(api/services/runs/queue.py): on PostgreSQL, sweeps of many workers at once, or a
sweep and a transaction holding some runs, cannot deadlock.

Real PostgreSQL, real row locks. The sweep's connections have a ``lock_timeout``: a
sweep that waited for a held row would fail with 55P03 instead of passing.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session, sessionmaker

from api.app import make_jobs
from api.services.runs.execution import QUEUE_TIMEOUT
from api.settings import Settings
from models import Run, make_engine, make_session_factory
from tests.factories import RUN_CONFIG, make_org, make_program, make_run

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

QUEUED, STALE = 40, 20


@pytest.fixture
def many_runs(session: Session) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """QUEUED queued runs whose deadline is near, STALE running runs past their lease:
    each of its own program (one active run per program)."""
    actor = make_org(session)
    now = datetime.now(UTC)
    queued, stale = [], []
    for k in range(QUEUED + STALE):
        program = make_program(session, actor, RUN_CONFIG)
        run = make_run(session, actor, program, status="queued" if k < QUEUED else "running")
        run.lease_expires_at = now + (timedelta(minutes=1) if k < QUEUED else -timedelta(hours=1))
        (queued if k < QUEUED else stale).append(run.id)
    session.commit()
    return queued, stale


def _impatient_factory(db_url: str) -> sessionmaker[Session]:
    """Sessions that give up on a row lock after 2 seconds (55P03) instead of waiting."""
    engine = make_engine(db_url)

    @event.listens_for(engine, "connect")
    def _lock_timeout(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        dbapi_connection.commit()

    return make_session_factory(
        engine, info={"audit_key": os.environ["MENTORMATCH_AUDIT_KEY"].encode()}
    )


@pytest.fixture
def jobs_pair(db_url: str, tmp_path: Path) -> Iterator[list[Any]]:
    """Two workers' queues (their own queue files, their own database pools)."""
    built = []
    for k in range(2):
        overrides = {"DATABASE_URL": db_url, "JOBS_PATH": str(tmp_path / f"jobs{k}.sqlite3")}
        settings = Settings.from_env().with_overrides(overrides)
        built.append(make_jobs(settings, _impatient_factory(db_url)))
    yield built
    for jobs in built:
        jobs.session_factory.kw["bind"].dispose()


def _statuses(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, Any]]:
    session.rollback()
    rows = session.execute(select(Run.id, Run.status, Run.lease_expires_at).where(Run.id.in_(ids)))
    return {run_id: (status, lease) for run_id, status, lease in rows}


def test_a_sweep_skips_the_runs_another_transaction_holds_instead_of_waiting(
    session: Session, session_factory: sessionmaker[Session], many_runs: Any, jobs_pair: Any
) -> None:
    queued, stale = many_runs
    held = [queued[QUEUED // 2], stale[STALE // 2]]
    with session_factory() as holder:  # a trigger or a claim, holding two of the runs
        holder.execute(
            text("SELECT id FROM runs WHERE id IN (:a, :b) FOR UPDATE"),
            {"a": held[0], "b": held[1]},
        )
        jobs_pair[0].sweep()  # 55P03 here if it waited for them
        holder.rollback()
    after = _statuses(session, queued + stale)
    soon = datetime.now(UTC) + QUEUE_TIMEOUT / 2
    for run_id in queued:
        status, lease = after[run_id]
        assert status == "queued"
        renewed = lease.replace(tzinfo=UTC) > soon
        assert renewed is (run_id not in held), run_id
    for run_id in stale:
        assert after[run_id][0] == ("running" if run_id in held else "failed"), run_id
    jobs_pair[0].sweep()  # the next sweep takes the ones left
    assert _statuses(session, [held[1]])[held[1]][0] == "failed"


def test_two_workers_sweeping_at_once_over_many_runs_finish_without_error(
    session: Session, many_runs: Any, jobs_pair: Any
) -> None:
    queued, stale = many_runs
    errors: list[BaseException] = []
    start = threading.Barrier(len(jobs_pair))

    def sweep(jobs: Any) -> None:
        try:
            start.wait()
            for _ in range(5):
                jobs.sweep()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweep, args=(jobs,)) for jobs in jobs_pair]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    after = _statuses(session, queued + stale)
    assert {after[run_id][0] for run_id in queued} == {"queued"}
    assert {after[run_id][0] for run_id in stale} == {"failed"}


def _blocked_backends(session: Session) -> int:
    session.rollback()
    return int(session.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")) or 0)


def test_a_sweep_and_a_transaction_taking_runs_in_another_order_do_not_deadlock(
    session: Session,
    session_factory: sessionmaker[Session],
    many_runs: Any,
    tmp_path: Path,
    db_url: str,
) -> None:
    """The other transaction holds the last stale run, waits until the sweep has done
    what it does, then takes the other stale runs: a sweep that had locked those and
    then waited for the held one would deadlock with it (40P01)."""
    _, stale = many_runs
    overrides = {"DATABASE_URL": db_url, "JOBS_PATH": str(tmp_path / "jobs.sqlite3")}
    jobs = make_jobs(Settings.from_env().with_overrides(overrides), session_factory)
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            jobs.expire_stale()
        except BaseException as exc:  # reported below
            errors.append(exc)

    with session_factory() as other:
        other.execute(text("SELECT id FROM runs WHERE id = :id FOR UPDATE"), {"id": stale[-1]})
        thread = threading.Thread(target=sweep)
        thread.start()
        deadline = datetime.now(UTC) + timedelta(seconds=60)  # a hang guard, not a speed bound
        while thread.is_alive() and not _blocked_backends(session):
            assert datetime.now(UTC) < deadline, "the sweep neither finished nor waited"
            thread.join(0.05)
        try:  # the rest, in the other order; a deadlock aborts one of the two
            other.execute(
                text("SELECT id FROM runs WHERE id = ANY(:ids) FOR UPDATE"),
                {"ids": stale[:-1]},
            )
            other.commit()
        except Exception as exc:
            errors.append(exc)
            other.rollback()
        thread.join()
    assert errors == []
    after = _statuses(session, stale)
    assert {after[run_id][0] for run_id in stale[:-1]} == {"failed"}
    assert after[stale[-1]][0] == "running"  # held: the next sweep's

"""Nothing stuck: cancelling runs, dead workers' runs read as failed, lost jobs queued again."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.app import make_jobs
from api.services import runs
from api.services.cohort_matching import ScoringAndMatching
from api.services.errors import Conflict, NotFound
from api.services.runs import execution as runs_execution
from api.settings import Settings
from models import AuditEvent, Match, UnmatchedMentee
from tests.conftest import REDIS_ENV
from tests.factories import RUN_CONFIG, add, make_org, make_program, reload


@pytest.fixture
def world(session: Session) -> Any:
    actor = make_org(session)
    program = make_program(session, actor, RUN_CONFIG, commit=True)
    add(session, program, "mentor", "m1", ["python", "sql"], capacity=1)
    add(session, program, "mentor", "m2", ["go", "rust"], capacity=2)
    add(session, program, "mentee", "e1", ["python", "sql"])
    add(session, program, "mentee", "e2", ["go"])
    return actor, program


class Slow(ScoringAndMatching):
    def assign(self, scores: Any, **kw: Any) -> Any:
        time.sleep(1.0)
        return super().assign(scores, **kw)


def _written(session: Session, run_id: uuid.UUID) -> int:
    session.rollback()
    return sum(
        session.scalar(select(func.count()).select_from(m).where(m.run_id == run_id)) or 0
        for m in (Match, UnmatchedMentee)
    )


def test_cancelling_a_queued_run_frees_the_program_and_is_audited(session, world) -> None:
    actor, program = world
    run = runs.start_run(session, actor, program.id)
    cancelled = runs.cancel_run(session, actor, program.id, run.id)
    assert cancelled.status == "cancelled"
    assert cancelled.error == "cancelled by an admin"
    assert cancelled.finished_at is not None
    assert cancelled.lease_expires_at is None
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "run.cancelled")).one()
    assert event.target_ids == [str(run.id)]
    assert event.details == {"was": "queued"}
    assert runs.start_run(session, actor, program.id).status == "queued"


def test_a_cancelled_queued_runs_job_does_nothing(session, session_factory, world) -> None:
    actor, program = world
    run_id = runs.start_run(session, actor, program.id).id
    runs.cancel_run(session, actor, program.id, run_id)
    session.rollback()  # (expires the test's objects: ids are kept in locals)
    assert runs.execute_run(session_factory, run_id) == "cancelled"
    assert reload(session, run_id).status == "cancelled"
    assert _written(session, run_id) == 0


def test_cancelling_a_running_run_stops_its_worker_writing_nothing(
    session, session_factory, world
) -> None:
    actor, program = world
    run_id = runs.start_run(session, actor, program.id).id
    session.rollback()
    result: list[str] = []
    worker = threading.Thread(
        target=lambda: result.append(
            runs.execute_run(session_factory, run_id, engines=Slow(), lease=0.4)
        )
    )
    worker.start()
    deadline = time.monotonic() + 10
    while reload(session, run_id).status != "running" and time.monotonic() < deadline:
        session.rollback()
        time.sleep(0.02)
    session.rollback()
    assert runs.cancel_run(session, actor, program.id, run_id).status == "cancelled"
    session.rollback()
    worker.join(timeout=20)
    assert not worker.is_alive()
    assert result == ["cancelled"]
    row = reload(session, run_id)
    assert (row.status, row.error) == ("cancelled", "cancelled by an admin")
    assert _written(session, run_id) == 0
    assert runs.start_run(session, actor, program.id).status == "queued"


def test_a_finished_run_cannot_be_cancelled_and_another_orgs_is_not_found(
    session, session_factory, world
) -> None:
    actor, program = world
    run_id = runs.start_run(session, actor, program.id).id
    session.rollback()
    assert runs.execute_run(session_factory, run_id) == "succeeded"
    with pytest.raises(Conflict, match="succeeded already"):
        runs.cancel_run(session, actor, program.id, run_id)
    session.rollback()
    queued = runs.start_run(session, actor, program.id)
    with pytest.raises(NotFound):
        runs.cancel_run(session, make_org(session, "Globex"), program.id, queued.id)
    assert reload(session, queued.id).status == "queued"


def test_a_run_past_its_lease_reads_failed_at_once(session, world) -> None:
    actor, program = world
    run = runs.start_run(session, actor, program.id)
    past = datetime.now(UTC) - timedelta(seconds=5)
    row = reload(session, run.id)
    row.status, row.lease_expires_at = "running", past
    session.commit()
    read = runs.get_run(session, actor, program.id, run.id)
    assert read.status == "failed"
    assert read.error == f"worker lost: lease expired at {past.isoformat(timespec='seconds')}"
    session.rollback()
    assert reload(session, run.id).status == "failed"  # stored, not only shown

    queued = runs.start_run(session, actor, program.id)
    reload(session, queued.id).lease_expires_at = past
    session.commit()
    [listed] = [r for r in runs.list_runs(session, actor, program.id).items if r.id == queued.id]
    assert listed.status == "failed"
    assert listed.error is not None
    assert listed.error.startswith("never picked up by a worker")


def _jobs(request: pytest.FixtureRequest, db_url: str, tmp_path: Path, factory: Any) -> Any:
    overrides = {"DATABASE_URL": db_url, "JOBS_PATH": str(tmp_path / "jobs.sqlite3")}
    if request.param == "redis":
        overrides |= {"REDIS_URL": os.environ[REDIS_ENV], "QUEUE_NAME": f"mm-{uuid.uuid4().hex}"}
    return make_jobs(Settings.from_env().with_overrides(overrides), factory)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def jobs(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path, session_factory: sessionmaker
) -> Any:
    built = _jobs(request, db_url, tmp_path, session_factory)
    yield built
    built.huey.flush()


def test_a_queued_run_whose_job_was_lost_is_queued_again_by_the_second_sweep(
    session, world, jobs
) -> None:
    actor, program = world
    run_id = runs.start_run(session, actor, program.id, enqueue=jobs.enqueue_run).id
    session.rollback()
    assert [t.name for t in jobs.huey.read_periodic(datetime(2027, 3, 1, 10, 0))] == []
    assert jobs.recover_lost_runs() == []  # its job is waiting: left alone
    assert jobs.recover_lost_runs() == []

    jobs.huey.flush()  # the queue's server lost it (a Redis restart without persistence)
    assert len(jobs.huey.pending()) == 0
    assert jobs.recover_lost_runs() == []  # missing once: maybe in a worker's hands
    assert jobs.recover_lost_runs() == [run_id]
    [task] = jobs.huey.pending()
    assert task.args == (str(run_id),)
    jobs.huey.execute(jobs.huey.dequeue())
    assert reload(session, run_id).status == "succeeded"
    session.rollback()
    assert jobs.recover_lost_runs() == []


def test_the_sweep_renews_a_waiting_runs_deadline_so_long_runs_elsewhere_never_fail_it(
    session, world, jobs
) -> None:
    actor, program = world
    run_id = runs.start_run(session, actor, program.id, enqueue=jobs.enqueue_run).id
    soon = datetime.now(UTC) + timedelta(seconds=1)
    reload(session, run_id).lease_expires_at = soon  # its hour of waiting nearly over
    session.commit()
    jobs.sweep()
    renewed = reload(session, run_id).lease_expires_at
    assert renewed is not None
    assert renewed.replace(tzinfo=UTC) > datetime.now(UTC) + runs_execution.QUEUE_TIMEOUT / 2
    session.rollback()
    assert runs.expire_stale_runs(session, now=soon + timedelta(seconds=1)) == []
    assert reload(session, run_id).status == "queued"


def _second_program(session: Session, actor: Any) -> Any:
    program = make_program(session, actor, RUN_CONFIG, commit=True)
    add(session, program, "mentor", "m9", ["python"], capacity=1)
    add(session, program, "mentee", "e9", ["python"])
    return program


def _set_running(session: Session, run_id: uuid.UUID, lease_seconds: float) -> None:
    row = reload(session, run_id)
    row.status = "running"
    row.lease_expires_at = datetime.now(UTC) + timedelta(seconds=lease_seconds)
    session.commit()


def test_an_orgs_second_run_waits_for_its_first_never_for_another_orgs(
    session, session_factory, world
) -> None:
    actor, program = world
    first = runs.start_run(session, actor, program.id).id
    second = runs.start_run(session, actor, _second_program(session, actor).id).id
    other = make_org(session, "Globex")
    theirs = runs.start_run(session, other, _second_program(session, other).id).id
    _set_running(session, first, lease_seconds=60)
    before = reload(session, second).lease_expires_at
    session.rollback()

    assert runs.execute_run(session_factory, second, concurrency=1) == "waiting"
    row = reload(session, second)
    assert (row.status, row.started_at, row.progress) == ("queued", None, 0.0)
    assert row.lease_expires_at is not None
    assert before is not None
    assert row.lease_expires_at > before  # waiting its turn renews its deadline
    assert _written(session, second) == 0
    session.rollback()
    assert runs.execute_run(session_factory, theirs, concurrency=1) == "succeeded"
    assert runs.execute_run(session_factory, second, concurrency=2) == "succeeded"

    third = runs.start_run(session, other, program_id=_second_program(session, other).id).id
    _set_running(session, theirs, lease_seconds=-1)  # its worker died: it holds no place
    session.rollback()
    assert runs.execute_run(session_factory, third, concurrency=1) == "succeeded"


def test_two_workers_claiming_one_orgs_runs_at_once_start_one(
    session, session_factory, world
) -> None:
    actor, program = world
    ids = [
        runs.start_run(session, actor, program.id).id,
        runs.start_run(session, actor, _second_program(session, actor).id).id,
    ]
    session.rollback()
    together = threading.Barrier(2)
    results: dict[uuid.UUID, str] = {}

    def work(run_id: uuid.UUID) -> None:
        together.wait()
        results[run_id] = runs.execute_run(session_factory, run_id, engines=Slow(), concurrency=1)

    threads = [threading.Thread(target=work, args=(run_id,)) for run_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results.values()) == ["succeeded", "waiting"]
    [waiting] = [run_id for run_id, result in results.items() if result == "waiting"]
    assert reload(session, waiting).status == "queued"


def test_the_queue_puts_a_waiting_run_off_without_holding_a_worker(session, world, jobs) -> None:
    actor, program = world
    first = runs.start_run(session, actor, program.id).id
    second = runs.start_run(
        session, actor, _second_program(session, actor).id, enqueue=jobs.enqueue_run
    ).id
    _set_running(session, first, lease_seconds=60)
    session.rollback()
    jobs.huey.execute(jobs.huey.dequeue())  # returns at once, the run left queued
    assert reload(session, second).status == "queued"
    session.rollback()
    [again] = jobs.huey.pending()  # its job again, due a moment from now
    assert again.args == (str(second),)
    assert again.eta > datetime.now(UTC).replace(tzinfo=None)  # Huey's naive UTC
    jobs.huey.execute(jobs.huey.dequeue())  # not due: a worker puts it in the schedule
    assert jobs.huey.pending() == []
    [later] = jobs.huey.scheduled()
    assert later.args == (str(second),)
    assert jobs.recover_lost_runs() == []
    assert jobs.recover_lost_runs() == []  # a scheduled job is not a lost one

    reload(session, first).status = "succeeded"
    session.commit()
    jobs.huey.execute(later, timestamp=later.eta)
    assert reload(session, second).status == "succeeded"


def test_the_worker_heartbeat_is_stored_in_the_queue(jobs) -> None:
    assert jobs.last_heartbeat() is None
    before = datetime.now(UTC)
    jobs.beat()
    beat = jobs.last_heartbeat()
    assert beat is not None
    assert before <= beat <= datetime.now(UTC)

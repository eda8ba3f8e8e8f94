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
from api.services.runs import queue
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


def test_a_queued_run_whose_job_was_lost_is_queued_again_by_the_sweep(session, world, jobs) -> None:
    actor, program = world
    run_id = runs.start_run(session, actor, program.id, enqueue=jobs.enqueue_run).id
    session.rollback()
    minute = datetime(2027, 3, 1, 10, 0)
    assert "recover_lost_runs" in [t.name for t in jobs.huey.read_periodic(minute)]
    later = datetime.now(UTC) + queue.LOST_JOB_GRACE + timedelta(seconds=1)
    assert jobs.recover_lost_runs(now=later) == []  # its job is waiting: left alone
    assert jobs.recover_lost_runs() == []  # too young to be taken for lost anyway

    jobs.huey.flush()  # the queue's server lost it (a Redis restart without persistence)
    assert len(jobs.huey.pending()) == 0
    assert jobs.recover_lost_runs(now=later) == [run_id]
    [task] = jobs.huey.pending()
    assert task.args == (str(run_id),)
    jobs.huey.execute(jobs.huey.dequeue())
    assert reload(session, run_id).status == "succeeded"
    session.rollback()
    assert jobs.recover_lost_runs(now=later) == []


def test_the_worker_heartbeat_is_stored_in_the_queue(jobs) -> None:
    assert jobs.last_heartbeat() is None
    before = datetime.now(UTC)
    jobs.beat()
    beat = jobs.last_heartbeat()
    assert beat is not None
    assert before <= beat <= datetime.now(UTC)

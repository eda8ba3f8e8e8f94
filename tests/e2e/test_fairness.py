"""End to end on the production layout: gunicorn, ``mentormatch worker`` processes on
Redis, PostgreSQL. Tenants do not stall each other, and nothing stays stuck.

* Two organizations at once, two process workers: org A's long dry run does not hold
  up org B's short run (B finishes first), and A's second run waits for A's first
  without holding the other worker (it starts after A's first finished, B meanwhile).
* A worker SIGKILLed mid-run: the run reads failed as soon as its lease is past, with
  no proposal written, and the program takes a new run.
* A job removed from Redis: the worker's sweep queues the run again and runs it.
* Process workers (``--worker-type process``) on the SQLite queue and on Redis.

Every server here is the test's own or namespaced: a private PostgreSQL database
(``mm_e2e_<random>``, dropped after), a queue name of its own on the shared Redis
(only that queue's keys are touched), a fresh server and workers per test.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from huey import RedisHuey
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from api.services.csv_format import participants_csv
from models import Match, Run, UnmatchedMentee
from scoring.synthetic import generate_cohort
from tests.conftest import PG_ENV, REDIS_ENV, TEST_AUDIT_KEY
from tests.e2e.test_worker import (
    BIN,
    Client,
    _children,
    _cli,
    _free_port,
    _process,
    _wait_healthy,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres]
#: The long run's cohort: several seconds of scoring and assignment on this machine.
LONG = 3000
#: The runs' lease: short where a killed worker's run is to fail soon, yet long enough
#: for a busy two-core machine to renew it (the renewal thread shares the CPU-bound run's
#: process); long elsewhere.
SHORT_LEASE, LONG_LEASE = 6, 120


@dataclass
class Stack:
    env: dict[str, str]
    base: str
    database_url: str
    tmp_path: Path

    def org(self, name: str) -> Client:
        out = _cli(self.env, "create-org", name, "--owner", f"owner@{name.lower()}.example")
        return Client(self.base, out.strip().splitlines()[-1])

    def worker(self, stack: ExitStack, name: str, *args: str) -> Any:
        command = [str(BIN / "mentormatch"), "worker", *args]
        return stack.enter_context(_process(command, self.env, self.tmp_path / f"{name}.log"))

    def rows(self, run_id: str) -> int:
        engine = create_engine(self.database_url, poolclass=NullPool)
        with engine.connect() as conn:
            found = sum(
                conn.scalar(
                    select(func.count()).select_from(model).where(model.run_id == uuid.UUID(run_id))
                )
                or 0
                for model in (Match, UnmatchedMentee)
            )
        engine.dispose()
        return found

    def lease_of(self, run_id: str) -> datetime | None:
        engine = create_engine(self.database_url, poolclass=NullPool)
        with engine.connect() as conn:
            lease = conn.scalar(select(Run.lease_expires_at).where(Run.id == uuid.UUID(run_id)))
        engine.dispose()
        return lease

    def queue(self) -> RedisHuey:
        return RedisHuey(self.env["MENTORMATCH_QUEUE_NAME"], url=self.env["MENTORMATCH_REDIS_URL"])


@contextmanager
def _private_database() -> Iterator[str]:
    admin_url = os.environ[PG_ENV].replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"mm_e2e_{uuid.uuid4().hex[:12]}"
    maintenance = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with maintenance.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with maintenance.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        maintenance.dispose()


@contextmanager
def _stack(tmp_path: Path, *, lease: int = LONG_LEASE, queue: str = "redis") -> Iterator[Stack]:
    """Migrated private database, a queue of its own (a name on the shared Redis, or a
    SQLite file), gunicorn serving; no companion worker: each test starts its own."""
    with _private_database() as database_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MENTORMATCH_")}
        if queue == "redis":
            env["MENTORMATCH_REDIS_URL"] = os.environ[REDIS_ENV]
        env |= {
            "MENTORMATCH_DATABASE_URL": database_url,
            "MENTORMATCH_JOBS_PATH": str(tmp_path / "jobs.sqlite3"),
            "MENTORMATCH_NO_WORKER": "1",
            "MENTORMATCH_QUEUE_NAME": f"mm-e2e-{uuid.uuid4().hex[:8]}",
            "MENTORMATCH_AUDIT_KEY": TEST_AUDIT_KEY,
            "MENTORMATCH_RUN_LEASE_SECONDS": str(lease),
            "MENTORMATCH_SWEEP_SECONDS": "1",
            "MENTORMATCH_WEB_WORKERS": "2",
            "MENTORMATCH_LOG_LEVEL": "INFO",
        }
        _cli(env, "db", "upgrade")
        port = _free_port()
        base = f"http://127.0.0.1:{port}/v1"
        command = [str(BIN / "mentormatch"), "serve", "--port", str(port)]
        with _process(command, env, tmp_path / "server.log") as server:
            _wait_healthy(base, server, tmp_path / "server.log")
            built = Stack(env, base, database_url, tmp_path)
            yield built
            if queue == "redis":
                built.queue().flush()  # this test's queue keys only


def _program(client: Client, n: int, seed: int) -> str:
    """A program with ``n`` mentees and ``n`` mentors uploaded by CSV."""
    mentees, mentors, config = generate_cohort(n, n, seed=seed)
    status, program = client.call("POST", "/programs", {"name": f"P{seed}", "config": config})
    assert status == 201, program
    keys = [f["key"] for f in config["fields"]]
    for people, role in ((mentees, "mentee"), (mentors, "mentor")):
        body = participants_csv(people, role, keys).encode()
        status, result = client.call(
            "POST", f"/programs/{program['id']}/participants", body, content_type="text/csv"
        )
        assert status in (200, 201), result
    return str(program["id"])


def _trigger(client: Client, pid: str, **body: Any) -> str:
    status, run = client.call("POST", f"/programs/{pid}/runs", {"scope": "all", **body})
    assert status == 202, run
    return str(run["id"])


def _run(client: Client, pid: str, rid: str) -> dict[str, Any]:
    status, run = client.call("GET", f"/programs/{pid}/runs/{rid}")
    assert status == 200, run
    return dict(run)


def _until(client: Client, pid: str, rid: str, done: Any, what: str, limit: float = 240) -> Any:
    """Poll the run until ``done(run)``; a generous deadline only guards against a hang."""
    deadline = time.monotonic() + limit
    while True:
        run = _run(client, pid, rid)
        if done(run):
            return run
        assert time.monotonic() < deadline, f"run never {what}: {run}"
        time.sleep(0.2)


def _finished(run: dict[str, Any]) -> bool:
    return run["status"] not in ("queued", "running")


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with _stack(tmp_path) as built:
        yield built


@pytest.mark.redis
def test_a_tenants_long_run_neither_delays_another_tenant_nor_runs_beside_its_own_next(
    stack: Stack,
) -> None:
    a, b = stack.org("Acme"), stack.org("Globex")
    long_program, next_program = _program(a, LONG, seed=1), _program(a, 3, seed=2)
    theirs = _program(b, 3, seed=3)
    with ExitStack() as workers:
        for name in ("worker-1", "worker-2"):
            stack.worker(workers, name, "--worker-type", "process", "--workers", "1")
        long_run = _trigger(a, long_program, dry_run=True)
        _until(a, long_program, long_run, lambda r: r["status"] == "running", "started")
        next_run = _trigger(a, next_program)  # A's second: waits for A's first
        their_run = _trigger(b, theirs)  # B's: takes the free worker at once

        their = _until(b, theirs, their_run, _finished, "finished")
        long = _until(a, long_program, long_run, _finished, "finished")
        following = _until(a, next_program, next_run, _finished, "finished")

    assert (long["status"], their["status"], following["status"]) == ("succeeded",) * 3
    # B's run did not wait behind A's long one (a worker was free: A's second run,
    # queued before B's, did not hold it) ...
    timeline = {
        name: (run["started_at"], run["finished_at"])
        for name, run in (("long", long), ("theirs", their), ("following", following))
    }
    assert _at(their["finished_at"]) < _at(long["finished_at"]), timeline
    # ... and A's second run started only once A's first had finished.
    assert _at(following["started_at"]) >= _at(long["finished_at"]), timeline
    assert long["stats"]["n_mentees"] == LONG


@pytest.mark.redis
def test_a_worker_killed_mid_run_leaves_a_failed_run_once_its_lease_is_past(
    tmp_path: Path,
) -> None:
    with _stack(tmp_path, lease=SHORT_LEASE) as stack:
        _kill_a_worker_mid_run(stack)


def _kill_a_worker_mid_run(stack: Stack) -> None:
    a = stack.org("Acme")
    pid = _program(a, LONG, seed=4)
    with ExitStack() as workers:
        worker = stack.worker(workers, "worker", "--workers", "1")
        rid = _trigger(a, pid, dry_run=True)
        _until(a, pid, rid, lambda r: r["phase"] in ("scoring", "assigning"), "was matching")
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    lease = stack.lease_of(rid)  # its last renewal: nobody renews it now
    assert lease is not None
    while datetime.now(UTC) <= lease:
        time.sleep(0.1)
    run = _run(a, pid, rid)  # the first read after the lease: failed already
    assert run["status"] == "failed"
    assert run["error"].startswith("worker lost: lease expired at ")
    assert stack.rows(rid) == 0
    assert _trigger(a, pid)  # the program is free for the next run


@pytest.mark.redis
def test_a_job_lost_from_redis_is_queued_again_by_the_sweep(stack: Stack) -> None:
    a = stack.org("Acme")
    pid = _program(a, 20, seed=5)
    rid = _trigger(a, pid)  # no worker yet: its job waits in Redis
    queue = stack.queue()
    assert queue.pending_count() == 1
    queue.storage.flush_queue()  # Redis lost it (restarted without persistence)
    status, refused = a.call("POST", f"/programs/{pid}/runs", {"scope": "all"})
    assert status == 409, refused  # stuck queued, until a worker's sweep notices
    with ExitStack() as workers:
        stack.worker(workers, "worker", "--workers", "1")
        run = _until(a, pid, rid, _finished, "finished")
        assert run["status"] == "succeeded", run
        assert stack.rows(rid) > 0
        log = (stack.tmp_path / "worker.log").read_text()
        assert "run's job was lost: queued again" in log
        again = _trigger(a, pid)
        assert _until(a, pid, again, _finished, "finished")["status"] == "succeeded"


@pytest.mark.parametrize("queue", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_process_workers_execute_runs_from_either_queue(tmp_path: Path, queue: str) -> None:
    """``--worker-type process``: runs execute in processes the consumer forks."""
    with _stack(tmp_path, queue=queue) as stack, ExitStack() as workers:
        a, b = stack.org("Acme"), stack.org("Globex")
        programs = [(a, _program(a, 60, seed=6)), (b, _program(b, 60, seed=7))]
        worker = stack.worker(workers, "worker", "--worker-type", "process", "--workers", "2")
        started = [(client, pid, _trigger(client, pid)) for client, pid in programs]
        for client, pid, rid in started:
            run = _until(client, pid, rid, _finished, "finished")
            assert run["status"] == "succeeded", run
            assert stack.rows(rid) > 0
        forked = [pid for pid, cmd in _children(worker.pid).items() if "worker" in cmd]
        assert len(forked) == 3, _children(worker.pid)  # 2 workers and Huey's scheduler

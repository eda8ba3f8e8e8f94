"""Faults answered honestly (api/faults.py): 503 + Retry-After or a retried success,
never a 500, nothing half-written, and recovery without restarting the app.

Every server these tests break is their own: a private PostgreSQL database
(``mm_fault_<random>``) whose connections alone are terminated, a private
``redis-server`` on a free port, a SQLite file locked from another connection.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import models.db
from models.migrate import upgrade
from tests.conftest import PG_ENV
from tests.factories import CONFIG, Tenant, make_tenant

pytestmark = pytest.mark.e2e

#: The brief's query, run on a connection to the private database: every other
#: connection of it (the app's) is terminated; waits until they are gone.
TERMINATE_ALL = (
    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


def _app(database_url: str, tmp_path: Path, **settings: Any) -> Any:
    from api.app import create_app

    return create_app(
        {
            "DATABASE_URL": database_url,
            "JOBS_PATH": str(tmp_path / "jobs.sqlite3"),
            "TESTING": True,
            "LOG_LEVEL": "ERROR",  # the faults are expected: their warnings are noise here
            **settings,
        }
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.get_data()[:300]
    assert response.mimetype == "application/problem+json"
    assert response.json["title"] == "Service Unavailable"
    assert int(response.headers["Retry-After"]) >= 1


def _program(client: Any, tenant: Tenant, name: str = "Spring") -> str:
    created = client.post(
        "/v1/programs", json={"name": name, "config": CONFIG}, headers=tenant.headers
    )
    assert created.status_code == 201, created.json
    return str(created.json["id"])


# --- PostgreSQL: connections terminated -------------------------------------------------


@pytest.fixture
def private_database() -> Iterator[str]:
    """A migrated database of this test's own, dropped after it."""
    admin_url = os.environ[PG_ENV].replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"mm_fault_{uuid.uuid4().hex[:12]}"
    maintenance = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with maintenance.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        with maintenance.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        maintenance.dispose()


class Terminator:
    """Terminates every connection of the private database just before the app runs a
    statement containing ``marker``, for the next ``times`` such statements."""

    def __init__(self, app: Any, url: str) -> None:
        self.engine = app.extensions["mentormatch"].engine
        self.killer = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.marker, self.left, self.fired = "", 0, 0
        event.listen(self.engine, "before_cursor_execute", self._before)

    def arm(self, marker: str, times: int = 1) -> None:
        self.marker, self.left, self.fired = marker, times, 0

    def terminate_all(self) -> int:
        with self.killer.connect() as conn:
            return len(conn.execute(text(TERMINATE_ALL)).all())

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.left and self.marker in statement:
            self.left -= 1
            self.fired += 1
            assert self.terminate_all() >= 1  # the app's own connection, at least

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        self.killer.dispose()


@pytest.fixture
def on_private_database(private_database: str, tmp_path: Path) -> Iterator[tuple[Any, Terminator]]:
    app = _app(private_database, tmp_path)
    terminator = Terminator(app, private_database)
    yield app, terminator
    terminator.close()
    app.extensions["mentormatch"].engine.dispose()


@pytest.mark.postgres
def test_a_read_whose_connection_is_terminated_mid_request_is_retried_once(
    on_private_database: tuple[Any, Terminator],
) -> None:
    app, terminator = on_private_database
    client = app.test_client()
    tenant = make_tenant(app, "Acme", "owner@acme.example")
    program = _program(client, tenant)

    terminator.arm("FROM programs")  # after auth's queries: mid-request
    answer = client.get(f"/v1/programs/{program}", headers=tenant.headers)
    assert terminator.fired == 1
    assert answer.status_code == 200, answer.json
    assert answer.json["id"] == program

    terminator.arm("FROM programs", times=2)  # the retry's connection dropped too
    _assert_unavailable(client.get(f"/v1/programs/{program}", headers=tenant.headers))
    assert terminator.fired == 2
    assert client.get(f"/v1/programs/{program}", headers=tenant.headers).status_code == 200


@pytest.mark.postgres
def test_a_write_whose_connection_is_terminated_is_503_and_writes_nothing(
    on_private_database: tuple[Any, Terminator],
) -> None:
    app, terminator = on_private_database
    client = app.test_client()
    tenant = make_tenant(app, "Acme", "owner@acme.example")

    terminator.arm("INSERT INTO audit_events")  # the program is flushed, not committed
    body = {"name": "Spring", "config": CONFIG}
    _assert_unavailable(client.post("/v1/programs", json=body, headers=tenant.headers))
    assert terminator.fired == 1
    assert client.get("/v1/programs", headers=tenant.headers).json["items"] == []
    assert client.post("/v1/programs", json=body, headers=tenant.headers).status_code == 201


@pytest.mark.postgres
def test_idle_connections_terminated_between_requests_are_replaced(
    on_private_database: tuple[Any, Terminator], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, terminator = on_private_database
    client = app.test_client()
    tenant = make_tenant(app, "Acme", "owner@acme.example")
    program = _program(client, tenant)
    monkeypatch.setattr(models.db, "PING_AFTER_IDLE_SECONDS", 0.0)  # idle from now on
    assert terminator.terminate_all() >= 1  # the pool's idle connection
    # The ping finds it dead before lending it: no error at all, not even for a write
    # (which is never run again).
    assert client.get(f"/v1/programs/{program}", headers=tenant.headers).status_code == 200
    assert terminator.terminate_all() >= 1
    body = {"name": "Autumn", "config": CONFIG}
    assert client.post("/v1/programs", json=body, headers=tenant.headers).status_code == 201


@pytest.mark.postgres
def test_connections_terminated_right_after_their_last_use_are_replaced_by_the_key_lookup(
    on_private_database: tuple[Any, Terminator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection used a moment ago is lent unpinged: killed meanwhile, the key lookup,
    every request's first statement, finds it dead and runs once more on a new
    connection (api.auth), so the write that got it goes through, once (it was a 503
    before the lookup was retried)."""
    app, terminator = on_private_database
    client = app.test_client()
    tenant = make_tenant(app, "Acme", "owner@acme.example")
    _program(client, tenant)
    monkeypatch.setattr(models.db, "PING_AFTER_IDLE_SECONDS", 3600.0)  # never pinged
    assert terminator.terminate_all() >= 1
    body = {"name": "Autumn", "config": CONFIG}
    assert client.post("/v1/programs", json=body, headers=tenant.headers).status_code == 201
    names = [p["name"] for p in client.get("/v1/programs", headers=tenant.headers).json["items"]]
    assert sorted(names) == ["Autumn", "Spring"]


@pytest.mark.postgres
def test_reads_under_repeated_terminations_are_answered_or_503_never_500(
    on_private_database: tuple[Any, Terminator],
) -> None:
    app, terminator = on_private_database
    tenant = make_tenant(app, "Acme", "owner@acme.example")
    program = _program(app.test_client(), tenant)
    statuses: list[tuple[int, str | None]] = []
    terminated: list[int] = []
    done = threading.Event()

    def read() -> None:
        client = app.test_client()
        for _ in range(40):
            answer = client.get(f"/v1/programs/{program}", headers=tenant.headers)
            statuses.append((answer.status_code, answer.headers.get("Retry-After")))

    def kill() -> None:
        while not done.wait(0.02):
            terminated.append(terminator.terminate_all())

    readers = [threading.Thread(target=read) for _ in range(3)]
    killer = threading.Thread(target=kill)
    killer.start()
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join()
    done.set()
    killer.join()
    assert sum(terminated) > 0  # the app's connections were really cut
    assert len(statuses) == 120
    assert {status for status, _ in statuses} <= {200, 503}, statuses
    assert all(retry for status, retry in statuses if status == 503)
    client = app.test_client()
    assert client.get(f"/v1/programs/{program}", headers=tenant.headers).status_code == 200


def test_a_database_that_is_not_listening_is_503(tmp_path: Path) -> None:
    down = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/nothing"
    app = _app(down, tmp_path)
    client = app.test_client()
    key = {"Authorization": f"Bearer mm_{uuid.uuid4().hex}_secret"}  # well-formed, unchecked
    for method, path in (("GET", "/v1/programs"), ("POST", "/v1/programs")):
        answer = client.open(path, method=method, json={}, headers=key)
        _assert_unavailable(answer)
        assert answer.json["detail"] == "the database is unreachable; retry later"
    app.extensions["mentormatch"].engine.dispose()


# --- Redis stopped and started ----------------------------------------------------------


class PrivateRedis:
    """A redis-server of this test's own, on a free port, persisting to its directory
    (appendonly), so that a restart keeps what was queued."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        command += ["--dir", str(self.directory)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port)
        try:
            for _ in range(200):
                try:
                    if client.ping():
                        return
                except redis.exceptions.ConnectionError:
                    time.sleep(0.05)
            raise RuntimeError("the private redis-server did not start")
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: redis flushes its append-only file
            self.process.wait(timeout=30)
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _cohort(client: Any, tenant: Tenant, name: str) -> str:
    program = _program(client, tenant, name)
    people = [
        {"external_id": "m1", "role": "mentor", "name": "Ann Lee", "skills": ["sql"]},
        {"external_id": "e1", "role": "mentee", "name": "Bo Chen", "skills": ["sql"]},
    ]
    for person in people:
        person["attributes"] = {"languages": ["en"]}
    upload = client.post(
        f"/v1/programs/{program}/participants", json={"items": people}, headers=tenant.headers
    )
    assert upload.status_code == 200, upload.json
    return program


def _run_pending_job(app: Any) -> None:
    huey = app.extensions["mentormatch"].jobs.huey
    task = huey.dequeue()
    assert task is not None, "nothing was queued"
    huey.execute(task)


def test_redis_stopped_then_started_503_on_trigger_and_nothing_lost(
    private_redis: PrivateRedis, db_url: str, tmp_path: Path
) -> None:
    app = _app(db_url, tmp_path, REDIS_URL=private_redis.url)
    client = app.test_client()
    tenant = make_tenant(app, "Acme", "owner@acme.example")
    queued_before, during = _cohort(client, tenant, "A"), _cohort(client, tenant, "B")
    first = client.post(f"/v1/programs/{queued_before}/runs", json={}, headers=tenant.headers)
    assert first.status_code == 202, first.json

    private_redis.stop()
    refused = client.post(f"/v1/programs/{during}/runs", json={}, headers=tenant.headers)
    _assert_unavailable(refused)
    assert "queue" in refused.json["detail"]
    runs = client.get(f"/v1/programs/{during}/runs", headers=tenant.headers).json["items"]
    assert [run["status"] for run in runs] == ["failed"]  # not left queued, blocking B
    assert "could not queue the run" in runs[0]["error"]

    private_redis.start()  # the same port; the app is not restarted
    _run_pending_job(app)  # the run queued before the outage was kept
    run = client.get(first.headers["Location"], headers=tenant.headers).json
    assert run["status"] == "succeeded", run
    again = client.post(f"/v1/programs/{during}/runs", json={}, headers=tenant.headers)
    assert again.status_code == 202, again.json
    _run_pending_job(app)
    run = client.get(again.headers["Location"], headers=tenant.headers).json
    assert run["status"] == "succeeded", run
    app.extensions["mentormatch"].engine.dispose()


# --- SQLite busy ------------------------------------------------------------------------


def test_sqlite_locked_by_another_writer_is_503_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.setattr(models.db, "SQLITE_BUSY_TIMEOUT_MS", 200)  # wait 0.2 s, not 30
    path = tmp_path / "busy.sqlite3"
    path.write_bytes(request.getfixturevalue("_sqlite_template").read_bytes())
    app = _app(f"sqlite:///{path}", tmp_path, JOBS_IMMEDIATE=True)
    client = app.test_client()
    tenant = make_tenant(app, "Acme", "owner@acme.example")
    body = {"name": "Spring", "config": CONFIG}

    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # the write lock, held
        refused = client.post("/v1/programs", json=body, headers=tenant.headers)
        _assert_unavailable(refused)
        assert "busy" in refused.json["detail"]
        # Readers do not wait for the writer (WAL): reads are still answered.
        assert client.get("/v1/programs", headers=tenant.headers).status_code == 200
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert client.get("/v1/programs", headers=tenant.headers).json["items"] == []
    assert client.post("/v1/programs", json=body, headers=tenant.headers).status_code == 201
    app.extensions["mentormatch"].engine.dispose()

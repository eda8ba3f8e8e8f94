"""A run's phase and ``Retry-After`` over HTTP, and a ``?wait`` the database cuts short.

The worker runs in a thread of the test (``execute_run``, as a queue worker calls it),
held inside its assigning phase by an engine that waits on an event, so that the
HTTP reads see a run that is really running.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from api.services import runs
from api.services.cohort_matching import ScoringAndMatching
from api.services.runs import queue
from api.services.runs.reading import RETRY_AFTER_DEFAULT, RETRY_AFTER_MAX, RETRY_AFTER_MIN
from api.views import runs as runs_view
from tests.api.test_runs import person
from tests.factories import RUN_CONFIG, Tenant


class HeldInAssign(ScoringAndMatching):
    """The real engines, but assigning waits until ``release`` is set (or fails then)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.entered, self.release, self.fail = threading.Event(), threading.Event(), fail

    def assign(self, scores: Any, **kw: Any) -> Any:
        self.entered.set()
        assert self.release.wait(60), "the test never released the worker"
        if self.fail:
            raise RuntimeError("the solver gave up")
        return super().assign(scores, **kw)


def _program(client: Any, tenant: Tenant) -> str:
    response = client.post(
        "/v1/programs", json={"name": "Spring", "config": RUN_CONFIG}, headers=tenant.headers
    )
    assert response.status_code == 201, response.json
    pid = str(response.json["id"])
    items = [
        person("m1", "mentor", ["python", "sql"], 1),
        person("e1", "mentee", ["python", "sql"]),
        person("e2", "mentee", ["go"]),
    ]
    uploaded = client.post(
        f"/v1/programs/{pid}/participants", json={"items": items}, headers=tenant.headers
    )
    assert uploaded.status_code in (200, 201), uploaded.json
    return pid


@pytest.fixture
def queued(app: Any, client: Any, tenant: Tenant, tmp_path: Path) -> str:
    """A program whose runs stay queued (a queue nobody consumes)."""
    state = app.extensions["mentormatch"]
    state.jobs = queue.build_jobs(
        replace(state.settings, jobs_path=tmp_path / "q.sqlite3"), state.session_factory
    )
    return _program(client, tenant)


def _running(app: Any, run_id: str, engines: HeldInAssign) -> threading.Thread:
    """The worker, in a thread, held in its assigning phase."""
    factory = app.extensions["mentormatch"].session_factory
    worker = threading.Thread(
        target=runs.execute_run, args=(factory, uuid.UUID(run_id)), kwargs={"engines": engines}
    )
    worker.start()
    assert engines.entered.wait(60), "the worker never reached the assigning phase"
    return worker


def test_a_run_reports_its_phase_beside_progress(app, client, tenant, queued) -> None:
    url = f"/v1/programs/{queued}/runs"
    created = client.post(url, json={}, headers=tenant.headers)
    assert created.status_code == 202
    assert (created.json["status"], created.json["phase"]) == ("queued", None)
    engines = HeldInAssign()
    worker = _running(app, created.json["id"], engines)
    try:
        running = client.get(f"{url}/{created.json['id']}", headers=tenant.headers).json
        assert (running["status"], running["phase"]) == ("running", "assigning")
        assert 0 < running["progress"] < 1
    finally:
        engines.release.set()
        worker.join()
    done = client.get(f"{url}/{created.json['id']}", headers=tenant.headers).json
    assert (done["status"], done["phase"], done["progress"]) == ("succeeded", None, 1.0)


def test_a_failed_run_keeps_the_phase_it_stopped_in(app, client, tenant, queued) -> None:
    url = f"/v1/programs/{queued}/runs"
    run_id = client.post(url, json={}, headers=tenant.headers).json["id"]
    engines = HeldInAssign(fail=True)
    worker = _running(app, run_id, engines)
    engines.release.set()
    worker.join()
    failed = client.get(f"{url}/{run_id}", headers=tenant.headers).json
    assert (failed["status"], failed["phase"]) == ("failed", "assigning")
    assert failed["error"].startswith("RuntimeError: unexpected error")


def test_retry_after_on_the_202_and_on_the_409_of_an_active_run(
    app, client, tenant, queued
) -> None:
    url = f"/v1/programs/{queued}/runs"
    created = client.post(url, json={}, headers=tenant.headers)
    assert created.headers["Retry-After"] == str(RETRY_AFTER_DEFAULT)  # queued: the constant
    refused = client.post(url, json={}, headers=tenant.headers)
    assert refused.status_code == 409
    assert refused.json["active_run_id"] == created.json["id"]
    assert refused.headers["Retry-After"] == str(RETRY_AFTER_DEFAULT)

    engines = HeldInAssign()
    worker = _running(app, created.json["id"], engines)
    try:
        refused = client.post(url, json={}, headers=tenant.headers)
        assert refused.status_code == 409
        # Running: estimated from its progress, within the documented bounds.
        assert RETRY_AFTER_MIN <= int(refused.headers["Retry-After"]) <= RETRY_AFTER_MAX
    finally:
        engines.release.set()
        worker.join()
    finished = client.post(f"{url}?wait=10", json={}, headers=tenant.headers)
    assert finished.status_code == 202  # nobody consumes this queue: still queued
    assert finished.headers["Retry-After"] == str(RETRY_AFTER_DEFAULT)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the spec is static
def test_the_description_documents_phase_and_retry_after(client) -> None:
    spec = client.get("/v1/openapi.json").json
    phase = spec["components"]["schemas"]["Run"]["properties"]["phase"]
    assert phase["nullable"] is True
    assert phase["enum"] == ["loading", "scoring", "assigning", "explaining", "saving", None]
    assert "phase" in spec["components"]["schemas"]["Run"]["required"]
    trigger = spec["paths"]["/v1/programs/{program_id}/runs"]["post"]["responses"]
    for status in ("202", "409"):
        ref = trigger[status]["headers"]["Retry-After"]["$ref"]
        header = spec["components"]["headers"][ref.rsplit("/", 1)[-1]]
        assert header["schema"]["type"] == "integer"
    assert "Retry-After" not in trigger["201"]["headers"]


@pytest.fixture
def faulty_wait(app: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement of the trigger's wait loop fails as a dropped connection would.

    On PostgreSQL the connection is really terminated (``pg_terminate_backend`` from
    another connection) before the statement runs; on SQLite the statement raises an
    ``OperationalError``. Yields the statements that failed.
    """
    engine = app.extensions["mentormatch"].engine
    armed = threading.Event()
    failed: list[str] = []
    killer = (
        create_engine(engine.url, poolclass=NullPool) if engine.dialect.name != "sqlite" else None
    )

    def fail(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not armed.is_set():
            return
        failed.append(statement)
        if killer is None:
            raise OperationalError(statement, None, Exception("disk I/O error (injected)"))
        pid = conn.connection.dbapi_connection.info.backend_pid
        with killer.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    real_wait = runs_view.wait_for_finish

    def armed_wait(*args: Any, **kwargs: Any) -> Any:
        armed.set()
        try:
            return real_wait(*args, **kwargs)
        finally:
            armed.clear()

    event.listen(engine, "before_cursor_execute", fail)
    monkeypatch.setattr(runs_view, "wait_for_finish", armed_wait)
    try:
        yield failed
    finally:
        event.remove(engine, "before_cursor_execute", fail)
        if killer is not None:
            killer.dispose()


def test_a_wait_the_database_interrupts_still_answers_the_run(
    app, client, tenant, faulty_wait
) -> None:
    app.extensions["mentormatch"].jobs.huey.immediate = True  # the run succeeds at once
    pid = _program(client, tenant)
    answer = client.post(f"/v1/programs/{pid}/runs?wait=30", json={}, headers=tenant.headers)
    assert faulty_wait, "the fault was never injected: the wait read nothing"
    assert answer.status_code == 202, answer.json
    run = answer.json
    assert run["status"] == "queued"  # as last read before the fault
    assert answer.headers["Location"].endswith(f"/v1/programs/{pid}/runs/{run['id']}")
    assert answer.headers["Retry-After"] == str(RETRY_AFTER_DEFAULT)
    # The database is back: the run the client learned of is there, finished.
    fetched = client.get(answer.headers["Location"], headers=tenant.headers)
    assert fetched.status_code == 200, fetched.json
    assert fetched.json["status"] == "succeeded"

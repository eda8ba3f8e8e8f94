"""A PostgreSQL transaction aborted because of a concurrent one (deadlock 40P01,
serialization failure 40001, lock timeout 55P03) is a 503 with Retry-After, never a
500, and leaves nothing written; a read that lost a deadlock or a serialization
conflict is run once more (api/faults.py).

The SQLSTATE is raised for real by PostgreSQL, on the request's own session, from
inside a service function the route calls.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from api.faults import RETRY_AFTER_SECONDS
from api.services import programs
from models import Program
from tests.factories import CONFIG, make_program

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

CONFLICTS = ["40P01", "40001", "55P03"]


def _raise(session: Session, sqlstate: str) -> None:
    session.execute(
        text(f"DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '{sqlstate}'; END $$")
    )


def _assert_503(response: Any) -> None:
    assert response.status_code == 503, response.get_json()
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 503
    assert "retry later" in body["detail"]


def _programs(app: Any) -> int:
    with app.extensions["mentormatch"].session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(Program)) or 0)


@pytest.mark.parametrize("sqlstate", CONFLICTS)
def test_a_write_that_loses_a_conflict_is_a_503_and_writes_nothing(
    app: Any, client: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch, sqlstate: str
) -> None:
    calls: list[int] = []

    def half_written(session: Session, actor: Any, **_: Any) -> Program:
        calls.append(1)
        make_program(session, actor)  # flushed: rows in the transaction, not committed
        _raise(session, sqlstate)
        raise AssertionError("unreachable")

    monkeypatch.setattr(programs, "create_program", half_written)
    body = {"name": "X", "config": CONFIG}
    response = client.post("/v1/programs", json=body, headers=tenant.headers)
    _assert_503(response)
    assert calls == [1]  # a write is never rerun
    assert _programs(app) == 0


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_read_that_loses_a_deadlock_or_serialization_conflict_runs_once_more(
    client: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch, sqlstate: str
) -> None:
    real_list = programs.list_programs
    calls: list[int] = []

    def conflicted_once(session: Session, actor: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            _raise(session, sqlstate)
        return real_list(session, actor, **kwargs)

    monkeypatch.setattr(programs, "list_programs", conflicted_once)
    response = client.get("/v1/programs", headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["items"] == []
    assert calls == [1, 1]


@pytest.mark.parametrize("sqlstate", CONFLICTS)
def test_a_read_that_keeps_losing_is_a_503_after_at_most_one_rerun(
    client: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch, sqlstate: str
) -> None:
    calls: list[int] = []

    def always(session: Session, *_: Any, **__: Any) -> Any:
        calls.append(1)
        _raise(session, sqlstate)

    monkeypatch.setattr(programs, "list_programs", always)
    response = client.get("/v1/programs", headers=tenant.headers)
    _assert_503(response)
    # A lock timeout is not rerun: the lock's holder is still there.
    assert calls == ([1] if sqlstate == "55P03" else [1, 1])


def test_a_read_that_committed_is_not_rerun_after_a_deadlock(
    client: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def committed_then_deadlocked(session: Session, *_: Any, **__: Any) -> Any:
        calls.append(1)
        session.commit()  # as the export GET does before it enqueues
        _raise(session, "40P01")

    monkeypatch.setattr(programs, "list_programs", committed_then_deadlocked)
    _assert_503(client.get("/v1/programs", headers=tenant.headers))
    assert calls == [1]


def test_another_database_error_is_still_a_500(
    client: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bug(session: Session, *_: Any, **__: Any) -> Any:
        _raise(session, "22012")  # division_by_zero: a bug, not a conflict

    monkeypatch.setattr(programs, "list_programs", bug)
    response = client.get("/v1/programs", headers=tenant.headers)
    assert response.status_code == 500

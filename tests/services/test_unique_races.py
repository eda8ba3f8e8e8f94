"""Concurrent writes that meet a unique constraint answer 409 or are retried, never 500.

Each race releases its threads together on real connections (several tries), then
sweeps the invariants. On SQLite writers are serial (BEGIN IMMEDIATE), so these pass
there trivially; PostgreSQL under READ COMMITTED is where they used to fail.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.errors import register_error_handlers
from api.services import participants, programs
from models import Participant, ProgramConfig
from tests.factories import CONFIG, make_org
from tests.services.races import race, sweep

TRIES = range(3)


def _program(session_factory: sessionmaker[Session]) -> tuple[Any, Any]:
    with session_factory() as session:
        actor = make_org(session)
        program = programs.create_program(session, actor, name="P", config=CONFIG)
        return actor, program.id


def _person(ext: str, **more: Any) -> dict[str, Any]:
    return {"external_id": ext, "role": "mentee", "name": f"N {ext}", **more}


@pytest.mark.parametrize("attempt", TRIES)
def test_racing_config_changes_each_get_a_version(
    session_factory: sessionmaker[Session], attempt: int
) -> None:
    actor, pid = _program(session_factory)

    def change(k: int) -> Any:
        config = {**CONFIG, "criteria": [{**CONFIG["criteria"][0], "weight": k + 3}]}
        return lambda session: programs.update_program(session, actor, pid, config=config)

    outcomes = race(session_factory, [change(k) for k in range(5)])
    assert outcomes == ["ok"] * 5, (attempt, outcomes)
    with session_factory() as session:
        versions = session.scalars(
            select(ProgramConfig.version).where(ProgramConfig.program_id == pid)
        )
        assert sorted(versions) == [1, 2, 3, 4, 5, 6]
        sweep(session)


@pytest.mark.parametrize("attempt", TRIES)
def test_creating_one_new_external_id_at_once_is_one_201_and_409s(
    session_factory: sessionmaker[Session], attempt: int
) -> None:
    actor, pid = _program(session_factory)
    job = lambda session: participants.create_participant(session, actor, pid, _person("x"))  # noqa: E731
    outcomes = race(session_factory, [job] * 4)
    assert sorted(outcomes) == ["Conflict"] * 3 + ["ok"], (attempt, outcomes)
    with session_factory() as session:
        sweep(session)


@pytest.mark.parametrize("attempt", TRIES)
@pytest.mark.parametrize("source", ["json", "csv"])
def test_uploading_the_same_new_external_ids_at_once_upserts_them_once(
    session_factory: sessionmaker[Session], attempt: int, source: str
) -> None:
    actor, pid = _program(session_factory)
    ids = [f"p{i}" for i in range(30)]

    def upload(k: int) -> Any:
        if source == "csv":
            rows = "".join(f"{e},mentee,Name {k}\n" for e in ids)
            data = f"external_id,role,name\n{rows}".encode()
            return lambda session: participants.import_csv(session, actor, pid, data)
        items = [_person(e, name=f"Name {k}") for e in ids]
        return lambda session: participants.upsert_participants(session, actor, pid, items)

    outcomes = race(session_factory, [upload(k) for k in range(4)])
    assert outcomes == ["ok"] * 4, (attempt, outcomes)  # the losers retry as updates
    with session_factory() as session:
        count = session.scalar(
            select(func.count()).select_from(Participant).where(Participant.program_id == pid)
        )
        assert count == 30
        sweep(session)


@pytest.mark.parametrize("attempt", TRIES)
def test_renaming_two_people_to_one_external_id_at_once_is_a_409(
    session_factory: sessionmaker[Session], attempt: int
) -> None:
    actor, pid = _program(session_factory)
    with session_factory() as session:
        made = participants.upsert_participants(
            session, actor, pid, [_person("a"), _person("b"), _person("c")]
        )

    def rename(person_id: Any) -> Any:
        return lambda session: participants.update_participant(
            session, actor, pid, person_id, {"external_id": "same"}
        )

    outcomes = race(session_factory, [rename(i) for i in made.ids])
    assert sorted(outcomes) == ["Conflict", "Conflict", "ok"], (attempt, outcomes)
    with session_factory() as session:
        sweep(session)


def test_any_unique_violation_left_is_a_409_problem_naming_the_constraint() -> None:
    app = Flask(__name__)
    register_error_handlers(app)

    @app.get("/boom")
    def _boom() -> Any:
        raise IntegrityError(
            "INSERT ...", {}, Exception("UNIQUE constraint failed: participants.external_id")
        )

    response = app.test_client().get("/boom")
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert "participants.external_id" in response.json["detail"]

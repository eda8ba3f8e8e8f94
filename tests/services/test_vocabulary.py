"""The closed vocabularies: one set of objective names, and the database keeps to them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Connection, insert
from sqlalchemy.exc import IntegrityError

import matcher
import scoring.config
from models import Base, Match, Organization, Participant, Program, Run, WeightsVersion, make_engine
from models.vocabulary import Objective


def test_the_matcher_scoring_and_models_name_the_same_objectives() -> None:
    # The matcher imports nothing of ours, so it keeps its own copy of the names.
    assert set(matcher.OBJECTIVES) == set(scoring.config.OBJECTIVES) == set(Objective)


def _parents(conn: Connection) -> dict[str, uuid.UUID]:
    """An organization, a program, a mentee, a mentor and a run, inserted with Core."""
    ids = {k: uuid.uuid4() for k in ("org", "program", "mentee", "mentor", "run")}
    conn.execute(insert(Organization).values(id=ids["org"], name="Acme", audit_head="0" * 64))
    owned = {"organization_id": ids["org"], "program_id": ids["program"]}
    conn.execute(insert(Program).values(id=ids["program"], organization_id=ids["org"], name="P"))
    for role in ("mentee", "mentor"):
        conn.execute(insert(Participant).values(id=ids[role], role=role, name=role, **owned))
    # Finished, so that the runs the test adds are not a second active run of the program.
    conn.execute(insert(Run).values(id=ids["run"], status="succeeded", config_version=1, **owned))
    return ids


def _row(table: str, ids: dict[str, uuid.UUID]) -> tuple[type[Base], dict[str, Any]]:
    """A valid row of ``table`` (whose vocabulary column the test then spoils)."""
    owned = {"organization_id": ids["org"], "program_id": ids["program"]}
    if table == "runs":
        return Run, {"config_version": 1, **owned}
    if table == "matches":
        pair = {"mentee_id": ids["mentee"], "mentor_id": ids["mentor"], "run_id": ids["run"]}
        return Match, {"score": 0.5, **pair, **owned}
    if table == "participants":
        return Participant, {"role": "mentor", "name": "Ann", **owned}
    return WeightsVersion, {"version": 1, "weights": {}, "source": "prior", **owned}


CHECKED = [
    ("runs", "status"),
    ("runs", "scope"),
    ("runs", "objective"),
    ("matches", "status"),
    ("participants", "role"),
    ("weights_versions", "source"),
]


@pytest.mark.parametrize(("table", "column"), CHECKED)
def test_the_database_refuses_a_value_outside_the_vocabulary(
    db_url: str, table: str, column: str
) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            ids = _parents(conn)
        model, row = _row(table, ids)
        with engine.connect() as conn:  # the valid row goes in: only the value is wrong below
            conn.execute(insert(model).values(**row))
            conn.rollback()
        with pytest.raises(IntegrityError, match=f"ck_{table}_{column}"), engine.begin() as conn:
            conn.execute(insert(model).values(**{**row, column: "bogus"}))
    finally:
        engine.dispose()

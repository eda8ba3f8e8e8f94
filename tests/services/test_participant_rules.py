"""A program's participant rules through the services: open categories in a run, positions
against new levels and in the offline batch (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.cli import main
from api.services import participants, programs, runs
from api.services.errors import ValidationFailed
from models import Match, Participant
from tests.factories import make_org, pairs, reload

OPEN: dict[str, Any] = {
    "fields": [{"key": "office", "type": "category"}],
    "position_levels": ["G7", "G6", "SCS1"],
    "criteria": [
        {"name": "office", "kind": "same", "field": "office", "required": True},
        {"name": "grade", "kind": "seniority_gap", "params": {"points": {"1": 1, "2": 0.5}}},
    ],
}


def person(ext: str, role: str, position: str | None, office: str | None) -> dict[str, Any]:
    attributes = {} if office is None else {"office": office}
    return {"external_id": ext, "role": role, "name": ext, "position": position,
            "attributes": attributes}  # fmt: skip


def test_a_run_matches_on_an_open_category(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    actor = make_org(session)
    program = programs.create_program(session, actor, name="Offices", config=OPEN)
    people = [
        person("e1", "mentee", "G7", "Leeds"),
        person("e2", "mentee", "G7", "Cafe\u0301 Nord"),
        person("e3", "mentee", "G6", "Oslo"),  # nobody else in Oslo
        person("m1", "mentor", "G6", " LEEDS "),
        person("m2", "mentor", "SCS1", "café nord"),
        person("m3", "mentor", "SCS1", "Leeds"),
    ]
    participants.upsert_participants(session, actor, program.id, people)
    run = runs.start_run(session, actor, program.id)
    session.rollback()
    assert runs.execute_run(session_factory, run.id) == "succeeded"
    assert pairs(session, run.id) == {"e1": "m1", "e2": "m2"}
    assert reload(session, run.id).stats["unmatched_by_reason"] == {"no_allowed_mentor": 1}
    reasons = {
        session.get_one(Participant, m.mentee_id).external_id: m.reasons
        for m in session.scalars(select(Match).where(Match.run_id == run.id))
    }
    assert reasons == {
        "e1": ["Same office: Leeds", "Mentor is 1 level senior (G7 -> G6)"],
        "e2": ["Same office: Caf\u00e9 Nord", "Mentor is 2 levels senior (G7 -> SCS1)"],
    }


def _graded(session: Session) -> tuple[Any, Any]:
    actor = make_org(session)
    program = programs.create_program(session, actor, name="Grades", config=OPEN)
    people = [person("a", "mentee", "G7", None), person("b", "mentor", "SCS1", None)]
    participants.upsert_participants(session, actor, program.id, people)
    return actor, program


def test_levels_that_no_longer_list_a_position_are_refused_naming_who(session: Session) -> None:
    actor, program = _graded(session)
    renamed = {**OPEN, "position_levels": ["Grade 7", "Grade 6", "SCS1"]}
    with pytest.raises(ValidationFailed) as refused:
        programs.update_program(session, actor, program.id, config=renamed)
    assert refused.value.extra["conflicts"] == {
        "count": 1,
        "external_ids": ["a"],
        "fields": ["position"],
    }
    session.rollback()
    programs.update_program(session, actor, program.id, config=renamed, on_conflict="clear")
    positions = {p.external_id: p.position for p in session.scalars(select(Participant))}
    assert positions == {"a": None, "b": "SCS1"}


def test_opening_positions_keeps_every_position(session: Session) -> None:
    actor, program = _graded(session)
    opened = {**OPEN, "position_levels": ["Grade 7"], "positions": "open"}
    view = programs.update_program(session, actor, program.id, config=opened)
    assert view.config_version == 2
    assert set(session.scalars(select(Participant.position))) == {"G7", "SCS1"}


def test_offline_batch_refuses_an_unlisted_position_naming_the_row(tmp_path: Path) -> None:
    (tmp_path / "program.json").write_text(json.dumps({"config": OPEN}))
    header = "external_id,role,name,position,office\n"
    (tmp_path / "mentees.csv").write_text(header + "e1,mentee,E,G7,Leeds\ne2,mentee,F,G-7,\n")
    (tmp_path / "mentors.csv").write_text(header + "m1,mentor,M,G6,Leeds\n")
    args = ["match", "--config", str(tmp_path / "program.json"), "--out", str(tmp_path / "o.csv")]
    args += ["--mentees", str(tmp_path / "mentees.csv"), "--mentors", str(tmp_path / "mentors.csv")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    assert "row 3.position" in result.output
    assert "unknown position 'G-7'; expected one of: G7, G6, SCS1" in result.output
    assert not (tmp_path / "o.csv").exists()

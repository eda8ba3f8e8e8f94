"""A configuration change is checked against the participants it would leave behind."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from api.services import participants, programs
from api.services.errors import ValidationFailed
from models import Participant
from tests.factories import make_org

DEPARTMENTS: dict[str, Any] = {
    "fields": [
        {"key": "department", "type": "category", "values": ["eng", "sales", "ops"]},
        {"key": "languages", "type": "multi"},
    ],
    "criteria": [{"name": "skills", "kind": "skill_overlap", "weight": 1}],
}


def _narrowed(values: list[str]) -> dict[str, Any]:
    fields = [{**DEPARTMENTS["fields"][0], "values": values}, DEPARTMENTS["fields"][1]]
    return {**DEPARTMENTS, "fields": fields}


def _program(session: Session, n_ops: int = 3) -> tuple[Any, Any]:
    actor = make_org(session)
    program = programs.create_program(session, actor, name="P", config=DEPARTMENTS)
    people = [
        {
            "external_id": f"ops{i}",
            "role": "mentee",
            "name": "X",
            "attributes": {"department": "ops"},
        }
        for i in range(n_ops)
    ] + [
        {"external_id": "eng0", "role": "mentor", "name": "Y", "attributes": {"department": "eng"}}
    ]
    participants.upsert_participants(session, actor, program.id, people)
    return actor, program


def test_narrowing_a_category_is_refused_naming_who_would_not_fit(session: Session) -> None:
    actor, program = _program(session, n_ops=25)
    with pytest.raises(ValidationFailed) as refused:
        programs.update_program(session, actor, program.id, config=_narrowed(["eng", "sales"]))
    conflicts = refused.value.extra["conflicts"]
    assert conflicts["count"] == 25
    assert conflicts["external_ids"] == sorted(f"ops{i}" for i in range(25))[:20]
    assert conflicts["fields"] == ["department"]
    assert "25 participants" in refused.value.errors["config"][0]
    session.rollback()
    assert programs.get(session, actor, program.id).config_version == 1
    # The program still works: an affected participant can be renamed.
    ops0 = participants.list_participants(session, actor, program.id, limit=1).items[0]
    renamed = participants.update_participant(session, actor, program.id, ops0.id, {"name": "Z"})
    assert renamed.name == "Z"


def test_on_conflict_clear_sets_those_values_to_missing(session: Session) -> None:
    actor, program = _program(session)
    view = programs.update_program(
        session, actor, program.id, config=_narrowed(["eng", "sales"]), on_conflict="clear"
    )
    assert view.config_version == 2
    people = {p.external_id: p for p in session.query(Participant)}
    assert people["ops0"].attributes == {}
    assert people["eng0"].attributes == {"department": "eng"}


def test_a_removed_fields_values_stop_being_shown(session: Session) -> None:
    actor, program = _program(session, n_ops=1)
    config = {**DEPARTMENTS, "fields": DEPARTMENTS["fields"][1:]}
    programs.update_program(session, actor, program.id, config=config)
    shown = [
        participants.public(p)["attributes"]
        for p in participants.list_participants(session, actor, program.id, limit=10).items
    ]
    assert shown == [{}, {}]


def test_an_unrelated_change_needs_no_option(session: Session) -> None:
    actor, program = _program(session)
    config = {**DEPARTMENTS, "criteria": [{"name": "s", "kind": "skill_overlap", "weight": 2}]}
    assert programs.update_program(session, actor, program.id, config=config).config_version == 2


def test_the_api_answers_422_with_the_conflicts_then_clears_on_request(
    client: Any, tenant: Any
) -> None:
    h = tenant.headers
    pid = client.post("/v1/programs", json={"name": "P", "config": DEPARTMENTS}, headers=h).json[
        "id"
    ]
    person = {
        "external_id": "o1",
        "role": "mentee",
        "name": "O",
        "attributes": {"department": "ops"},
    }
    assert (
        client.post(f"/v1/programs/{pid}/participants", json=person, headers=h).status_code == 201
    )
    narrowed = {"config": _narrowed(["eng"])}
    refused = client.patch(f"/v1/programs/{pid}", json=narrowed, headers={**h, "If-Match": "*"})
    assert refused.status_code == 422
    assert refused.content_type == "application/problem+json"
    assert refused.json["conflicts"] == {
        "count": 1,
        "external_ids": ["o1"],
        "fields": ["department"],
    }
    cleared = client.patch(
        f"/v1/programs/{pid}",
        json={**narrowed, "on_conflict": "clear"},
        headers={**h, "If-Match": "*"},
    )
    assert cleared.status_code == 200
    assert cleared.json["config_version"] == 2
    listed = client.get(f"/v1/programs/{pid}/participants", headers=h).json["items"]
    assert listed[0]["attributes"] == {}

"""Outcomes and weights versions over HTTP: every bad input's 4xx, learn, activate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

import scoring
from api.services.context import Actor
from models import AuditEvent
from tests.factories import (
    LEARN_CONFIG,
    Scenario,
    Tenant,
    make_program,
    past_outcomes,
    proposals,
    set_status,
)


def _scenario(app: Any, tenant: Tenant) -> Scenario:
    actor = Actor(tenant.organization_id, tenant.owner_id, "owner")
    with app.extensions["mentormatch"].session_factory() as s:
        scenario = proposals(s, actor, pairs=4)
        set_status(s, scenario.run.id, "e0", "published")
        set_status(s, scenario.run.id, "e1", "ended")
        set_status(s, scenario.run.id, "e3", "rejected")
        return scenario


def test_outcomes_are_recorded_for_published_and_ended_matches_and_listed(
    app: Any, client: Any, tenant: Tenant
) -> None:
    s = _scenario(app, tenant)
    h = tenant.headers
    published, ended = (str(m.id) for m in s.matches[:2])
    first = {"meetings": 3, "goals_completed": 2, "goals_total": 2, "mentor_rating": 4}
    created = client.post(f"/v1/matches/{published}/outcomes", json=first, headers=h)
    assert created.status_code == 201, created.json
    body = created.json
    assert {k: body[k] for k in first} == first
    assert body["mentee_rating"] is None
    assert body["success"] == pytest.approx(scoring.outcome_success(first))
    assert body["recorded_by"] == str(tenant.owner_id)
    later = {"meetings": 6, "ended_early": True, "ended_reason": "program ended"}
    assert (
        client.post(f"/v1/matches/{published}/outcomes", json=later, headers=h).status_code == 201
    )
    only_messages = {"messages": 12}
    unknown = client.post(f"/v1/matches/{ended}/outcomes", json=only_messages, headers=h)
    assert unknown.status_code == 201
    assert unknown.json["success"] is None  # no part of the formula present

    listed = client.get(f"/v1/matches/{published}/outcomes", headers=h)
    assert listed.status_code == 200
    assert [o["meetings"] for o in listed.json["items"]] == [3, 6]  # oldest first
    assert listed.json["items"][1]["success"] == 1.0
    assert listed.json["next_cursor"] is None
    with app.extensions["mentormatch"].session_factory() as db:
        events = db.scalars(select(AuditEvent).where(AuditEvent.action == "outcome.recorded")).all()
    assert len(events) == 3
    assert all(e.target_ids in ([published], [ended]) for e in events)
    assert all(set(e.details) == {"outcome_id"} for e in events)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mentor_rating": 0}, "mentor_rating"),
        ({"mentee_rating": 6}, "mentee_rating"),
        ({"meetings": -1}, "meetings"),
        ({"messages": "5"}, "messages"),
        ({"goals_completed": 3, "goals_total": 2}, "goals_completed"),
        ({"ended_early": "yes"}, "ended_early"),
        ({"ended_early": 1}, "ended_early"),
        ({"ended_reason": "x" * 501}, "ended_reason"),
        ({"meetings": 1, "content": "hi"}, "content"),
        ({}, "_schema"),
    ],
)
def test_each_bad_outcome_is_a_422_naming_the_field(
    app: Any, client: Any, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    s = _scenario(app, tenant)
    response = client.post(
        f"/v1/matches/{s.matches[0].id}/outcomes", json=body, headers=tenant.headers
    )
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    assert list(response.json["errors"]) == [field]


def test_outcomes_of_proposed_or_rejected_matches_are_409_and_other_orgs_404(
    app: Any, client: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    s = _scenario(app, tenant)
    for match in (s.matches[2], s.matches[3]):  # proposed, rejected
        response = client.post(
            f"/v1/matches/{match.id}/outcomes", json={"meetings": 1}, headers=tenant.headers
        )
        assert response.status_code == 409, response.json
        assert "published or ended matches only" in response.json["detail"]
    published = s.matches[0].id
    for method in ("get", "post"):
        response = getattr(client, method)(
            f"/v1/matches/{published}/outcomes", json={"meetings": 1}, headers=other_tenant.headers
        )
        assert response.status_code == 404


def _learning_program(app: Any, tenant: Tenant, n: int, follow: int) -> str:
    """A program with ``n`` past matches whose success follows criterion ``follow``."""
    actor = Actor(tenant.organization_id, tenant.owner_id, "owner")
    sims = np.random.default_rng(0).random((n, 2))
    with app.extensions["mentormatch"].session_factory() as s:
        program = make_program(s, actor, LEARN_CONFIG, commit=True)
        outcomes = [{"meetings": round(6 * float(v))} for v in sims[:, follow]]
        past_outcomes(s, actor, program, sims, outcomes)
        return str(program.id)


def test_learning_with_too_few_outcomes_is_a_409_with_the_numbers(
    app: Any, client: Any, tenant: Tenant
) -> None:
    pid = _learning_program(app, tenant, 5, follow=1)
    response = client.post(f"/v1/programs/{pid}/weights/learn", headers=tenant.headers)
    assert response.status_code == 409
    body = response.json
    assert (body["have"], body["need"]) == (5, scoring.MIN_SAMPLES)
    assert f"have 5, need at least {scoring.MIN_SAMPLES}" in body["detail"]
    listed = client.get(f"/v1/programs/{pid}/weights", headers=tenant.headers).json["items"]
    assert [(v["version"], v["source"], v["active"]) for v in listed] == [(1, "prior", True)]


def test_learn_activate_and_roll_back_over_http(app: Any, client: Any, tenant: Tenant) -> None:
    pid = _learning_program(app, tenant, 80, follow=1)
    h = tenant.headers
    learned = client.post(f"/v1/programs/{pid}/weights/learn", headers=h)
    assert learned.status_code == 201, learned.json
    v2 = learned.json
    assert (v2["version"], v2["source"], v2["active"]) == (2, "learned", True)
    assert v2["weights"]["languages"] > v2["weights"]["skills"]
    assert set(v2["evaluation"]) >= {"folds", "samples", "spearman_learned", "spearman_current"}
    assert v2["samples"] == 80
    assert "languages" in v2["summary"]

    back = client.post(f"/v1/programs/{pid}/weights/1/activate", headers=h)
    assert back.status_code == 200
    assert (back.json["version"], back.json["active"]) == (1, True)
    listed = client.get(f"/v1/programs/{pid}/weights", headers=h).json["items"]
    assert [(v["version"], v["active"]) for v in listed] == [(1, True), (2, False)]
    again = client.post(f"/v1/programs/{pid}/weights/2/activate", headers=h)
    assert again.json["active"] is True
    assert client.post(f"/v1/programs/{pid}/weights/9/activate", headers=h).status_code == 404
    audit = client.get("/v1/audit?action=weights.activated", headers=h).json["items"]
    assert [(e["details"]["version"], e["details"]["previous_version"]) for e in audit] == [
        (1, 2),
        (2, 1),
    ]

"""The runs API through the Flask test client; jobs run inline (Huey immediate mode)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from api.services.runs import queue
from models import Run
from tests.factories import RUN_CONFIG, Tenant


def person(ext: str, role: str, skills: list[str], capacity: int | None = None) -> dict[str, Any]:
    body = {
        "external_id": ext,
        "role": role,
        "name": f"Person {ext}",
        "skills": skills,
        "attributes": {"languages": ["en"]},
    }
    if capacity is not None:
        body["capacity"] = capacity
    return body


@pytest.fixture
def program(app: Any, client: Any, tenant: Tenant) -> str:
    app.extensions["mentormatch"].jobs.huey.immediate = True  # tasks run inline
    response = client.post(
        "/v1/programs", json={"name": "Spring", "config": RUN_CONFIG}, headers=tenant.headers
    )
    assert response.status_code == 201, response.json
    pid = response.json["id"]
    items = [
        person("m1", "mentor", ["python", "sql"], 1),
        person("m2", "mentor", ["go", "rust"], 2),
        person("e1", "mentee", ["python", "sql"]),
        person("e2", "mentee", ["go"]),
        person("e3", "mentee", ["rust"]),
    ]
    uploaded = client.post(
        f"/v1/programs/{pid}/participants", json={"items": items}, headers=tenant.headers
    )
    assert uploaded.status_code in (200, 201), uploaded.json
    return pid


def test_run_answers_202_with_location_then_reads_back(client, tenant, program) -> None:
    response = client.post(f"/v1/programs/{program}/runs", json={}, headers=tenant.headers)
    assert response.status_code == 202
    run = response.json
    assert response.headers["Location"].endswith(f"/v1/programs/{program}/runs/{run['id']}")
    assert run["scope"] == "all"
    assert run["objective"] == "total"
    assert run["dry_run"] is False
    assert run["triggered_by"] == str(tenant.owner_id)
    assert run["config_version"] == 1

    fetched = client.get(response.headers["Location"], headers=tenant.headers)
    assert fetched.status_code == 200
    body = fetched.json
    assert body["status"] == "succeeded"
    assert body["progress"] == 1.0
    assert body["stats"]["matched"] == 3
    assert "persist" in body["stats"]["seconds"]
    assert body["weights_version"] is None
    assert body["error"] is None
    assert body["started_at"] <= body["finished_at"]  # ISO 8601 in UTC: ordered as text

    listed = client.get(f"/v1/programs/{program}/runs?limit=10", headers=tenant.headers)
    assert [r["id"] for r in listed.json["items"]] == [run["id"]]


def test_wait_answers_201_with_the_finished_run(client, tenant, program) -> None:
    response = client.post(
        f"/v1/programs/{program}/runs?wait=10",
        json={"scope": "all", "objective": "coverage", "pins": [["e2", "m1"]]},
        headers=tenant.headers,
    )
    assert response.status_code == 201
    assert response.json["status"] == "succeeded"
    assert response.json["objective"] == "coverage"
    assert response.json["options"]["pins"] == [["e2", "m1"]]


def test_second_run_while_one_is_active_is_409_naming_it(app, client, tenant, program, tmp_path):
    # A queue nobody consumes: the first run stays queued.
    state = app.extensions["mentormatch"]
    unconsumed = replace(state.settings, jobs_path=Path(tmp_path) / "q.sqlite3")
    state.jobs = queue.build_jobs(unconsumed, state.session_factory)
    first = client.post(f"/v1/programs/{program}/runs", json={}, headers=tenant.headers)
    assert first.status_code == 202
    assert first.json["status"] == "queued"
    waited = client.post(f"/v1/programs/{program}/runs?wait=0.3", json={}, headers=tenant.headers)
    assert waited.status_code == 409
    assert waited.content_type == "application/problem+json"
    assert waited.json["active_run_id"] == first.json["id"]
    assert first.json["id"] in waited.json["detail"]


def test_dry_run_and_compare(client, tenant, program) -> None:
    real = client.post(f"/v1/programs/{program}/runs?wait=10", json={}, headers=tenant.headers)
    what_if = client.post(
        f"/v1/programs/{program}/runs?wait=10",
        json={"dry_run": True, "config": {"min_score": 0.9}, "pins": [["e2", "m1"]]},
        headers=tenant.headers,
    )
    assert what_if.status_code == 201
    assert what_if.json["dry_run"] is True
    compared = client.get(
        f"/v1/programs/{program}/runs/{real.json['id']}/compare?with={what_if.json['id']}",
        headers=tenant.headers,
    )
    assert compared.status_code == 200
    body = compared.json
    assert body["a"]["id"] == real.json["id"]
    assert body["b"]["dry_run"] is True
    assert body["a"]["matched"] == 3
    assert body["b"]["matched"] == 2
    assert body["only_in_b_count"] == len(body["only_in_b"]) == 1
    assert [
        (p["mentee"]["external_id"], p["mentor"]["external_id"]) for p in body["only_in_b"]
    ] == [
        ("e2", "m1")  # pinned; e1 scores 0 with m2, under the dry run's min_score
    ]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"scope": "some"}, {"scope"}),
        ({"objective": "best"}, {"objective"}),
        ({"pins": [["e1"]]}, {"pins.0"}),
        ({"config": {"min_score": 0.5}}, {"config"}),
        ({"dry_run": True, "config": {"min_score": 3}}, {"config.min_score"}),
        ({"pins": [["ghost", "m1"]]}, {"pins.0"}),
        ({"unknown": 1}, {"unknown"}),
        ({"priority_unmatched": 2}, {"priority_unmatched"}),
    ],
)
def test_invalid_run_requests_are_422(client, tenant, program, body, fields) -> None:
    response = client.post(f"/v1/programs/{program}/runs", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.json
    assert set(response.json["errors"]) == fields


def test_wait_is_capped(client, tenant, program) -> None:
    response = client.post(f"/v1/programs/{program}/runs?wait=61", json={}, headers=tenant.headers)
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"wait"}


def test_other_organizations_runs_are_404(client, tenant, other_tenant, program) -> None:
    run = client.post(f"/v1/programs/{program}/runs?wait=10", json={}, headers=tenant.headers)
    rid = run.json["id"]
    for path in (
        f"/v1/programs/{program}/runs",
        f"/v1/programs/{program}/runs/{rid}",
        f"/v1/programs/{program}/runs/{rid}/compare?with={rid}",
    ):
        assert client.get(path, headers=other_tenant.headers).status_code == 404
    posted = client.post(f"/v1/programs/{program}/runs", json={}, headers=other_tenant.headers)
    assert posted.status_code == 404


def test_a_pin_breaking_a_required_criterion_is_422_by_external_ids(
    client, tenant, program
) -> None:
    french = {**person("fr", "mentor", ["python"]), "attributes": {"languages": ["fr"]}}
    added = client.post(f"/v1/programs/{program}/participants", json=french, headers=tenant.headers)
    assert added.status_code == 201, added.json
    response = client.post(
        f"/v1/programs/{program}/runs", json={"pins": [["e1", "fr"]]}, headers=tenant.headers
    )
    assert response.status_code == 422, response.json
    assert response.json["errors"] == {
        "pins.0": [
            "pin ['e1', 'fr'] is not allowed: required criterion 'shared_language' is not met"
        ]
    }
    listed = client.get(f"/v1/programs/{program}/runs", headers=tenant.headers)
    assert listed.json["items"] == []  # nothing was queued


def _run_count(app: Any) -> int:
    with app.extensions["mentormatch"].session_factory() as s:
        return int(s.scalar(select(func.count()).select_from(Run)) or 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        # JSON booleans and numbers are typed: no coercion from strings or 0/1.
        ({"dry_run": "yes"}, "dry_run"),
        ({"dry_run": "true"}, "dry_run"),
        ({"dry_run": 1}, "dry_run"),
        ({"priority_unmatched": "1"}, "priority_unmatched"),
        ({"priority_unmatched": "0.5"}, "priority_unmatched"),
        ({"priority_unmatched": True}, "priority_unmatched"),
        ({"priority_unmatched": 10**400}, "priority_unmatched"),
        # Stored as JSON: PostgreSQL refuses a NUL in it.
        ({"pins": [["e1\x00", "m1"]]}, "pins.0.0"),
        ({"dry_run": True, "config": {"objective": "to\x00tal"}}, "config.objective"),
        ({"dry_run": True, "config": {"min_score": 10**400}}, "config.min_score"),
        ({"dry_run": True, "config": {"default_capacity": 10**400}}, "config.default_capacity"),
    ],
)
def test_loose_or_unstorable_run_requests_are_422(
    app, client, tenant, program, body, field
) -> None:
    response = client.post(f"/v1/programs/{program}/runs", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"], response.json
    assert _run_count(app) == 0


def test_typed_run_options_are_accepted(client, tenant, program) -> None:
    body = {"dry_run": True, "priority_unmatched": 1}
    response = client.post(f"/v1/programs/{program}/runs", json=body, headers=tenant.headers)
    assert response.status_code in (201, 202), response.json
    assert response.json["dry_run"] is True

"""A run's ``tolerance`` over HTTP: accepted where the matcher supports it, recorded in
the run's options and stats with the proven gap and method; anything else a 422
naming the field (jobs run inline, Huey immediate mode)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_runs import person
from tests.factories import RUN_CONFIG, Tenant


def make(client: Any, tenant: Tenant, config: dict[str, Any], items: list[Any]) -> str:
    response = client.post(
        "/v1/programs", json={"name": "Spring", "config": config}, headers=tenant.headers
    )
    assert response.status_code == 201, response.json
    pid = str(response.json["id"])
    uploaded = client.post(
        f"/v1/programs/{pid}/participants", json={"items": items}, headers=tenant.headers
    )
    assert uploaded.status_code in (200, 201), uploaded.json
    return pid


PEOPLE = [
    person("m1", "mentor", ["python", "sql"]),
    person("m2", "mentor", ["go", "rust"], 2),
    person("e1", "mentee", ["python", "sql"]),
    person("e2", "mentee", ["go"]),
    person("e3", "mentee", ["rust"]),
]


@pytest.fixture
def program(app: Any, client: Any, tenant: Tenant) -> str:
    app.extensions["mentormatch"].jobs.huey.immediate = True
    return make(client, tenant, RUN_CONFIG, PEOPLE)


def trigger(client: Any, tenant: Tenant, pid: str, body: dict[str, Any]) -> Any:
    return client.post(f"/v1/programs/{pid}/runs?wait=30", json=body, headers=tenant.headers)


def test_a_tolerance_is_recorded_in_the_options_and_the_stats(client, tenant, program) -> None:
    response = trigger(client, tenant, program, {"tolerance": 0.05})
    assert response.status_code == 201, response.json
    run = response.json
    assert run["status"] == "succeeded", run
    assert run["options"]["tolerance"] == 0.05
    stats = run["stats"]
    assert stats["tolerance"] == 0.05
    assert 0.0 <= stats["gap"] <= 0.05
    assert stats["method"] in {"dense", "sparse", "components", "auction"}
    assert stats["matched"] == 3  # e1-m1, e2-m2, e3-m2: the optimum is reached here


def test_without_tolerance_the_run_is_the_certified_optimum(client, tenant, program) -> None:
    run = trigger(client, tenant, program, {}).json
    assert run["options"]["tolerance"] is None
    assert (run["stats"]["tolerance"], run["stats"]["gap"], run["stats"]["optimal"]) == (
        0.0,
        0.0,
        True,
    )


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.01])
def test_a_tolerance_out_of_range_is_a_422_naming_it(client, tenant, program, bad) -> None:
    response = trigger(client, tenant, program, {"tolerance": bad})
    assert response.status_code == 422, response.json
    assert response.content_type.startswith("application/problem+json")
    assert response.json["errors"] == {"tolerance": [f"expected a number in [0, 1), got {bad}"]}


@pytest.mark.parametrize("bad", ["0.1", True, [0.1]])
def test_a_tolerance_that_is_no_number_is_a_422_naming_it(client, tenant, program, bad) -> None:
    response = trigger(client, tenant, program, {"tolerance": bad})
    assert response.status_code == 422, response.json
    assert list(response.json["errors"]) == ["tolerance"]


def test_a_tolerance_the_matcher_cannot_use_is_a_422_saying_why(client, tenant, program) -> None:
    too_big = trigger(client, tenant, program, {"tolerance": 0.6}).json
    assert "tolerance 0.6" in too_big["errors"]["tolerance"][0]
    assert "[0, 0.5)" in too_big["errors"]["tolerance"][0]
    fair = trigger(client, tenant, program, {"tolerance": 0.1, "objective": "fair"}).json
    assert "only objective 'total' accepts a gap" in fair["errors"]["tolerance"][0]


def test_several_mentors_per_mentee_take_no_tolerance(app, client, tenant) -> None:
    app.extensions["mentormatch"].jobs.huey.immediate = True
    items = [*PEOPLE, person("e4", "mentee", ["go"], capacity=2)]
    pid = make(client, tenant, RUN_CONFIG, items)
    response = trigger(client, tenant, pid, {"tolerance": 0.1})
    assert response.status_code == 422, response.json
    assert "certified" in response.json["errors"]["tolerance"][0]
    spread = make(client, tenant, {**RUN_CONFIG, "spread": True}, PEOPLE)
    assert trigger(client, tenant, spread, {"tolerance": 0.1}).status_code == 422
    assert trigger(client, tenant, spread, {}).status_code == 201  # exact: fine


def test_a_run_of_objective_total_takes_a_tolerance_when_the_config_says_fair(
    app, client, tenant
) -> None:
    app.extensions["mentormatch"].jobs.huey.immediate = True
    pid = make(client, tenant, {**RUN_CONFIG, "objective": "fair"}, PEOPLE)
    response = trigger(client, tenant, pid, {"tolerance": 0.05, "objective": "total"})
    assert response.status_code == 201, response.json
    assert response.json["status"] == "succeeded", response.json["error"]
    assert response.json["stats"]["tolerance"] == 0.05


def test_a_config_tolerance_is_the_runs_default(app, client, tenant) -> None:
    app.extensions["mentormatch"].jobs.huey.immediate = True
    pid = make(client, tenant, {**RUN_CONFIG, "tolerance": 0.02}, PEOPLE)
    run = trigger(client, tenant, pid, {}).json
    assert (run["options"]["tolerance"], run["stats"]["tolerance"]) == (None, 0.02)
    refused = trigger(client, tenant, pid, {"objective": "fair"})
    assert refused.status_code == 422
    assert "only objective 'total' accepts a gap" in refused.json["errors"]["tolerance"][0]

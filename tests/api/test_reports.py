"""GET /v1/programs/{pid}/report through the Flask test client (jobs run inline)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import Tenant
from tests.services.test_reports import REPORT_CONFIG


def person(ext: str, role: str, offset: int) -> dict[str, Any]:
    return {
        "external_id": ext,
        "role": role,
        "name": f"P {ext}",
        "attributes": {"utc_offset": offset},
    }


@pytest.fixture
def program(app: Any, client: Any, tenant: Tenant) -> str:
    app.extensions["mentormatch"].jobs.huey.immediate = True
    created = client.post(
        "/v1/programs", json={"name": "Spring", "config": REPORT_CONFIG}, headers=tenant.headers
    )
    assert created.status_code == 201, created.json
    pid = created.json["id"]
    items = [person("e1", "mentee", 0), person("e2", "mentee", -1)]
    items += [person("m1", "mentor", 1), person("m2", "mentor", 2)]
    uploaded = client.post(
        f"/v1/programs/{pid}/participants", json={"items": items}, headers=tenant.headers
    )
    assert uploaded.status_code in (200, 201), uploaded.json
    return pid


def test_report_before_any_run(client, tenant, program) -> None:
    response = client.get(f"/v1/programs/{program}/report", headers=tenant.headers)
    assert response.status_code == 200
    body = response.json
    assert body["run"] is None
    assert body["scores"] is None
    assert body["quality"]["status"] == "no_run"
    assert body["match_rate"]["active_mentees"] == 2


def test_report_after_a_run_compares_optimal_greedy_and_random(client, tenant, program) -> None:
    run = client.post(f"/v1/programs/{program}/runs?wait=10", json={}, headers=tenant.headers)
    assert run.status_code == 201, run.json
    response = client.get(f"/v1/programs/{program}/report", headers=tenant.headers)
    assert response.status_code == 200
    body = response.json
    assert body["run"]["id"] == run.json["id"]
    assert body["scores"]["total"] == pytest.approx(1.6)
    assert len(body["scores"]["histogram"]) == 10
    assert body["scores"]["lowest"][0]["mentee"]["external_id"] in ("e1", "e2")
    quality = body["quality"]
    assert quality["greedy"]["total"] == pytest.approx(1.0)
    assert quality["greedy"]["min"] == pytest.approx(0.1)
    assert "60% more in total than greedy" in quality["summary"]
    assert body["outcomes"] is None


def test_report_of_another_organization_is_404(client, other_tenant, program) -> None:
    response = client.get(f"/v1/programs/{program}/report", headers=other_tenant.headers)
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"

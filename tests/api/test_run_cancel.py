"""Cancelling a run and reading a dead worker's run, over HTTP."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.services.runs import queue
from models import Run
from tests.factories import RUN_CONFIG, Tenant


@pytest.fixture
def program(app: Any, client: Any, tenant: Tenant, tmp_path: Path) -> str:
    state = app.extensions["mentormatch"]
    unconsumed = replace(state.settings, jobs_path=tmp_path / "q.sqlite3")
    state.jobs = queue.build_jobs(unconsumed, state.session_factory)  # runs stay queued
    response = client.post(
        "/v1/programs", json={"name": "Spring", "config": RUN_CONFIG}, headers=tenant.headers
    )
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def test_a_queued_run_is_cancelled_and_the_program_takes_a_new_one(client, tenant, program):
    runs = f"/v1/programs/{program}/runs"
    run = client.post(runs, json={}, headers=tenant.headers).json
    assert client.post(runs, json={}, headers=tenant.headers).status_code == 409
    response = client.post(f"{runs}/{run['id']}/cancel", headers=tenant.headers)
    assert response.status_code == 200, response.json
    assert response.json["status"] == "cancelled"
    assert response.json["error"] == "cancelled by an admin"
    assert client.get(f"{runs}/{run['id']}", headers=tenant.headers).json["status"] == "cancelled"
    again = client.post(f"{runs}/{run['id']}/cancel", headers=tenant.headers)
    assert again.status_code == 409
    assert again.headers["Content-Type"] == "application/problem+json"
    assert "cancelled already" in again.json["detail"]
    assert client.post(runs, json={}, headers=tenant.headers).status_code == 202
    audit = client.get("/v1/audit", headers=tenant.headers).json["items"]
    assert [e["target_ids"] for e in audit if e["action"] == "run.cancelled"] == [[run["id"]]]


def test_another_organizations_run_is_not_cancelled(client, tenant, other_tenant, program):
    run = client.post(f"/v1/programs/{program}/runs", json={}, headers=tenant.headers).json
    url = f"/v1/programs/{program}/runs/{run['id']}"
    assert client.post(f"{url}/cancel", headers=other_tenant.headers).status_code == 404
    assert client.get(url, headers=tenant.headers).json["status"] == "queued"


def test_a_run_past_its_lease_reads_failed_on_get(app, client, tenant, program):
    run = client.post(f"/v1/programs/{program}/runs", json={}, headers=tenant.headers).json
    with app.extensions["mentormatch"].session_factory() as s:
        row = s.get(Run, uuid.UUID(run["id"]))
        row.status, row.lease_expires_at = "running", datetime.now(UTC) - timedelta(seconds=1)
        s.commit()
    got = client.get(f"/v1/programs/{program}/runs/{run['id']}", headers=tenant.headers).json
    assert got["status"] == "failed"
    assert got["error"].startswith("worker lost: lease expired at")
    assert (
        client.post(f"/v1/programs/{program}/runs", json={}, headers=tenant.headers).status_code
        == 202
    )

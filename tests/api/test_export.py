"""The organization export: JSON and CSV round trips, formula escaping, the job path, CLI."""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from api.cli import main
from api.services.export import TABLES
from api.services.export_files import BOM, escape_formula, table_csv
from api.services.export_jobs import build_export, expire_exports
from models import AuditEvent, Export
from tests.factories import RUN_CONFIG, Tenant

HOSTILE = {
    "name": '=HYPERLINK("http://evil.example","click")',
    "position": "+1 (555) 0100",
    "skills": ["@SUM(A1)", "-rm"],
}


def _ok(response: Any, *statuses: int) -> Any:
    assert response.status_code in statuses, (response.status_code, response.get_data()[:300])
    return response


def _people(prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"{prefix}m1",
            "role": "mentor",
            "name": f"{prefix} Mentor",
            "skills": ["python"],
            "capacity": 1,
            "attributes": {"languages": ["en"]},
        },
        {
            "external_id": f"{prefix}e1",
            "role": "mentee",
            "name": f"{prefix} Mentee",
            "skills": ["python"],
            "attributes": {"languages": ["en"]},
        },
    ]


def _build(client: Any, tenant: Tenant, prefix: str) -> dict[str, Any]:
    """Everything a tenant can create through the API, and its ids."""
    h = tenant.headers
    program = _ok(
        client.post("/v1/programs", json={"name": f"{prefix} P", "config": RUN_CONFIG}, headers=h),
        201,
    ).json
    pid = program["id"]
    config = {**RUN_CONFIG, "default_capacity": 2}
    _ok(
        client.patch(
            f"/v1/programs/{pid}", json={"config": config}, headers={**h, "If-Match": "*"}
        ),
        200,
    )
    people = _ok(
        client.post(f"/v1/programs/{pid}/participants", json={"items": _people(prefix)}, headers=h),
        200,
    ).json["ids"]
    run = _ok(client.post(f"/v1/programs/{pid}/runs?wait=10", json={}, headers=h), 201).json
    _ok(client.post(f"/v1/programs/{pid}/runs/{run['id']}/publish", json={}, headers=h), 200)
    match = client.get(f"/v1/programs/{pid}/matches", headers=h).json["items"][0]
    outcome = _ok(
        client.post(f"/v1/matches/{match['id']}/outcomes", json={"meetings": 2}, headers=h), 201
    ).json
    weights = client.get(f"/v1/programs/{pid}/weights", headers=h).json["items"]
    admin = _ok(client.post("/v1/admins", json={"email": f"{prefix}@x.example"}, headers=h), 201)
    return {
        "program": pid,
        "participants": set(people),
        "run": run["id"],
        "match": match["id"],
        "outcome": outcome["id"],
        "weights": {w["version"] for w in weights},
        "admin": admin.json["id"],
        "names": {p["name"] for p in _people(prefix)},
    }


@pytest.fixture
def built(app: Any, client: Any, tenant: Tenant, other_tenant: Tenant) -> tuple[Any, Any]:
    app.extensions["mentormatch"].jobs.huey.immediate = True
    return _build(client, tenant, "acme"), _build(client, other_tenant, "globex")


def test_the_json_export_holds_everything_created_and_nothing_of_another_organization(
    app: Any, client: Any, tenant: Tenant, built: tuple[Any, Any]
) -> None:
    mine, theirs = built
    response = _ok(client.get("/v1/export", headers=tenant.headers), 200)
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    doc = response.json
    assert doc["organization"]["id"] == str(tenant.organization_id)
    assert [p["id"] for p in doc["programs"]] == [mine["program"]]
    assert [c["version"] for c in doc["programs"][0]["configs"]] == [1, 2]
    assert doc["programs"][0]["configs"][1]["config"]["default_capacity"] == 2
    assert {p["id"] for p in doc["participants"]} == mine["participants"]
    assert {p["name"] for p in doc["participants"]} == mine["names"]
    assert [r["id"] for r in doc["runs"]] == [mine["run"]]
    assert mine["match"] in {m["id"] for m in doc["matches"]}
    assert all(m["breakdown"] and m["reasons"] for m in doc["matches"])
    assert [o["id"] for o in doc["outcomes"]] == [mine["outcome"]]
    assert {w["version"] for w in doc["weights_versions"]} == mine["weights"]
    assert {a["id"] for a in doc["admins"]} == {str(tenant.owner_id), mine["admin"]}
    assert doc["api_keys"]
    assert all("secret_hash" not in k for k in doc["api_keys"])
    assert [e["seq"] for e in doc["audit_events"]] == list(range(1, len(doc["audit_events"]) + 1))
    text = json.dumps(doc)
    assert "secret_hash" not in text
    leaked = [str(v) for v in theirs.values() if isinstance(v, str) and str(v) in text]
    leaked += [n for n in theirs["names"] | theirs["participants"] if n in text]
    assert leaked == []
    with app.extensions["mentormatch"].session_factory() as s:
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "organization.exported")
        ).one()
        assert event.organization_id == tenant.organization_id
        assert event.details["format"] == "json"
        assert event.details["rows"] > 0
        assert event.details["job"] is False


def _zip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_csv_export_is_a_zip_of_one_csv_per_table_with_a_bom_and_escaped_formulas(
    client: Any, tenant: Tenant, built: tuple[Any, Any]
) -> None:
    mine, theirs = built
    h = tenant.headers
    hostile = {**_people("h")[1], "external_id": "hostile", **HOSTILE}
    _ok(client.post(f"/v1/programs/{mine['program']}/participants", json=hostile, headers=h), 201)
    response = _ok(client.get("/v1/export?format=csv", headers=h), 200)
    assert response.mimetype == "application/zip"
    files = _zip(response.get_data())
    assert sorted(files) == sorted(f"{t}.csv" for t in TABLES)
    assert all(content.startswith(BOM.encode()) for content in files.values())
    people = list(csv.DictReader(io.StringIO(files["participants.csv"].decode("utf-8-sig"))))
    assert {p["id"] for p in people} >= mine["participants"]
    row = next(p for p in people if p["external_id"] == "hostile")
    assert row["name"] == "'" + HOSTILE["name"]
    assert row["position"] == "'+1 (555) 0100"
    assert json.loads(row["skills"]) == HOSTILE["skills"]  # a JSON cell starts with "["
    runs = list(csv.DictReader(io.StringIO(files["runs.csv"].decode("utf-8-sig"))))
    assert [r["id"] for r in runs] == [mine["run"]]
    everything = b"".join(files.values()).decode("utf-8")
    assert not any(str(i) in everything for i in theirs["participants"] | {theirs["program"]})
    assert "secret_hash" not in files["api_keys.csv"].decode("utf-8-sig")


@pytest.mark.parametrize(
    ("cell", "escaped"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_formula_escaping(cell: str, escaped: str) -> None:
    assert escape_formula(cell) == escaped


def test_a_table_csv_escapes_text_cells_but_not_numbers() -> None:
    text = table_csv([{"a": "=x", "b": -1.5, "c": None, "d": ["-y"], "e": True}])
    assert text.startswith(BOM)
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows == [["a", "b", "c", "d", "e"], ["'=x", "-1.5", "", '["-y"]', "true"]]


@pytest.mark.usefixtures("built")
def test_a_large_export_runs_as_a_job_downloadable_once_by_its_organization(
    app: Any, client: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    app.config["EXPORT_JOB_ROWS"] = 10
    app.extensions["mentormatch"].jobs.huey.immediate = False  # the worker is called below
    h = tenant.headers
    queued = _ok(client.get("/v1/export?format=csv", headers=h), 202)
    job = queued.json
    assert job["status"] == "queued"
    assert job["rows"] > 10
    location = queued.headers["Location"]
    assert location.endswith(f"/v1/export/{job['id']}")
    assert _ok(client.get(location, headers=h), 202).json["status"] == "queued"

    factory = app.extensions["mentormatch"].session_factory
    assert build_export(factory, uuid.UUID(job["id"])) == "ready"
    assert build_export(factory, uuid.UUID(job["id"])) == "missing"  # claimed once

    assert client.get(location, headers=other_tenant.headers).status_code == 404
    download = _ok(client.get(location, headers=h), 200)
    assert download.mimetype == "application/zip"
    files = _zip(download.get_data())
    assert "participants.csv" in files
    assert client.get(location, headers=h).status_code == 404  # once
    with factory() as s:
        assert s.scalars(select(Export)).all() == []  # the file is gone with the download
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "organization.exported")
        ).one()
        assert event.target_ids == [job["id"]]
        assert event.details["job"] is True


@pytest.mark.usefixtures("built")
def test_immediate_jobs_are_ready_at_once(app: Any, client: Any, tenant: Tenant) -> None:
    app.config["EXPORT_JOB_ROWS"] = 10
    queued = _ok(client.get("/v1/export", headers=tenant.headers), 202)
    assert queued.json["status"] == "ready"
    body = _ok(client.get(queued.headers["Location"], headers=tenant.headers), 200).json
    assert body["organization"]["id"] == str(tenant.organization_id)


@pytest.mark.usefixtures("built")
def test_an_export_not_downloaded_expires(app: Any, client: Any, tenant: Tenant) -> None:
    app.config["EXPORT_JOB_ROWS"] = 10
    location = _ok(client.get("/v1/export", headers=tenant.headers), 202).headers["Location"]
    with app.extensions["mentormatch"].session_factory() as s:
        assert expire_exports(s, now=datetime.now(UTC) + timedelta(hours=1)) == 0
        assert expire_exports(s, now=datetime.now(UTC) + timedelta(days=2)) == 1
        s.commit()
    assert client.get(location, headers=tenant.headers).status_code == 404


def test_an_unknown_format_is_422(client: Any, tenant: Tenant) -> None:
    response = client.get("/v1/export?format=xlsx", headers=tenant.headers)
    assert response.status_code == 422
    assert "format" in response.json["errors"]


def test_the_cli_writes_the_same_export(
    db_url: str,
    tenant: Tenant,
    built: tuple[Any, Any],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mine, _ = built
    monkeypatch.setenv("MENTORMATCH_DATABASE_URL", db_url)
    out = tmp_path / "org.json"
    args = ["export", "--org", str(tenant.organization_id), "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_bytes())
    assert [p["id"] for p in doc["programs"]] == [mine["program"]]
    zipped = tmp_path / "org.zip"
    args = ["export", "--org", str(tenant.organization_id), "--out", str(zipped)]
    result = CliRunner().invoke(main, [*args, "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "participants.csv" in _zip(zipped.read_bytes())
    missing = CliRunner().invoke(main, ["export", "--org", str(uuid.uuid4()), "--out", str(out)])
    assert missing.exit_code == 1
    assert "not found" in missing.output

"""Minimization (issue 11): no special category through any path that creates fields or
values, and logs that carry ids, never personal data, over a whole flow."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from api.cli import main
from api.logs import JsonFormatter
from tests.factories import Tenant

CONFIG: dict[str, Any] = {
    "fields": [
        {"key": "languages", "type": "multi"},
        {"key": "goals", "type": "text"},
    ],
    "criteria": [
        {"name": "skills", "kind": "skill_overlap", "weight": 2},
        {"name": "language", "kind": "overlap", "field": "languages"},
    ],
}


@pytest.fixture
def pid(client: Any, tenant: Tenant) -> str:
    response = client.post(
        "/v1/programs", json={"name": "P", "config": CONFIG}, headers=tenant.headers
    )
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def url(pid: str, suffix: str = "") -> str:
    return f"/v1/programs/{pid}{suffix}"


def test_values_naming_a_special_category_are_refused_at_upload_naming_the_row(
    client: Any, tenant: Tenant, pid: str
) -> None:
    rows = [
        {"external_id": "m1", "role": "mentor", "name": "Ann", "skills": ["python", "Bisexual"]},
        {
            "external_id": "e1",
            "role": "mentee",
            "name": "Bo",
            "attributes": {"languages": ["HIV+"]},
        },
    ]
    bulk = client.post(url(pid, "/participants"), json={"items": rows}, headers=tenant.headers)
    assert bulk.status_code == 422, bulk.json
    assert set(bulk.json["errors"]) == {"items.0.skills.1", "items.1.attributes.languages.0"}
    assert "special category" in bulk.json["errors"]["items.0.skills.1"][0]

    csv = (
        "external_id,role,name,skills,languages\nm1,mentor,Ann,python,en\ne1,mentee,Bo,muslim,en\n"
    )
    upload = client.post(
        url(pid, "/participants"), data=csv, content_type="text/csv", headers=tenant.headers
    )
    assert upload.status_code == 422, upload.json
    assert list(upload.json["errors"]) == ["row 3.skills"]
    listed = client.get(url(pid, "/participants"), headers=tenant.headers).json
    assert listed["items"] == []


def test_a_patch_cannot_add_a_special_category_value(client: Any, tenant: Tenant, pid: str) -> None:
    created = client.post(
        url(pid, "/participants"),
        json={"external_id": "m1", "role": "mentor", "name": "Ann"},
        headers=tenant.headers,
    )
    response = client.patch(
        url(pid, f"/participants/{created.json['id']}"),
        json={"skills": ["pregnancy"]},
        headers=tenant.headers,
    )
    assert response.status_code == 422, response.json
    assert "skills.0" in response.json["errors"]


@pytest.mark.parametrize("key", ["hiv_status", "religión", "r_e_l_i_g_i_o_n"])
def test_every_path_that_creates_fields_runs_the_guard(
    client: Any, tenant: Tenant, pid: str, tmp_path: Path, key: str
) -> None:
    fields = [*CONFIG["fields"], {"key": key, "type": "text"}]
    patched = client.patch(
        url(pid),
        json={"config": {**CONFIG, "fields": fields}},
        headers={**tenant.headers, "If-Match": "*"},
    )
    assert patched.status_code == 422, patched.json
    assert "config.fields.2.key" in patched.json["errors"]
    what_if = client.post(
        url(pid, "/runs"),
        json={"dry_run": True, "config": {"fields": fields}},
        headers=tenant.headers,
    )
    assert what_if.status_code == 422, what_if.json
    assert "config.fields.2.key" in what_if.json["errors"]

    program = tmp_path / "program.json"
    program.write_text(json.dumps({"config": {**CONFIG, "fields": fields}}))
    people = tmp_path / "people.csv"
    people.write_text("external_id,role,name\nx,mentee,X\n")
    args = ["match", "--config", str(program), "--mentees", str(people)]
    result = CliRunner().invoke(
        main, [*args, "--mentors", str(people), "--out", str(tmp_path / "o.csv")]
    )
    assert result.exit_code != 0
    assert "sensitive category" in result.output


def test_the_offline_batch_refuses_special_category_values_naming_the_row(tmp_path: Path) -> None:
    program = tmp_path / "program.json"
    program.write_text(json.dumps({"config": CONFIG}))
    mentees = tmp_path / "mentees.csv"
    mentees.write_text("external_id,role,name,skills\ne1,mentee,Bo,python\ne2,mentee,Cy,Diabetes\n")
    mentors = tmp_path / "mentors.csv"
    mentors.write_text("external_id,role,name,skills\nm1,mentor,Ann,python\n")
    args = ["match", "--config", str(program), "--mentees", str(mentees)]
    result = CliRunner().invoke(
        main, [*args, "--mentors", str(mentors), "--out", str(tmp_path / "o.csv")]
    )
    assert result.exit_code != 0
    assert "row 3.skills" in result.output


def test_logs_over_a_whole_flow_carry_ids_never_personal_data(
    app: Any, client: Any, tenant: Tenant, pid: str, caplog: pytest.LogCaptureFixture
) -> None:
    app.extensions["mentormatch"].jobs.huey.immediate = True  # the run executes inline
    secrets = [
        "Annabel Secretname",
        "annabel@secret.example",
        "Mentor Hiddenname",
        "hidden@secret.example",
        "quantumwhistling",
        "Klingonese",
        "grow my orchid trade",
    ]
    people = [
        {
            "external_id": "m1",
            "role": "mentor",
            "name": secrets[2],
            "email": secrets[3],
            "skills": [secrets[4]],
            "capacity": 1,
            "attributes": {"languages": [secrets[5]], "goals": secrets[6]},
        },
        {
            "external_id": "e1",
            "role": "mentee",
            "name": secrets[0],
            "email": secrets[1],
            "skills": [secrets[4]],
            "attributes": {"languages": [secrets[5]], "goals": secrets[6]},
        },
    ]
    with caplog.at_level(logging.DEBUG):
        h = tenant.headers
        assert (
            client.post(url(pid, "/participants"), json={"items": people}, headers=h).status_code
            == 200
        )
        bad = {"external_id": "e2", "role": "mentee", "name": secrets[0], "level": "x"}
        assert client.post(url(pid, "/participants"), json=bad, headers=h).status_code == 422
        run = client.post(url(pid, "/runs?wait=30"), json={}, headers=h)
        assert run.status_code in (201, 202), run.json
        rid = run.json["id"]
        matches = client.get(url(pid, f"/runs/{rid}/matches"), headers=h)
        assert matches.status_code == 200
        assert client.post(url(pid, f"/runs/{rid}/publish"), json={}, headers=h).status_code == 200
        listed = client.get(url(pid, "/participants"), headers=h).json["items"]
        client.patch(
            url(pid, f"/participants/{listed[0]['id']}"),
            json={"name": "Renamed Secretly"},
            headers=h,
        )
        client.get(url(pid, "/report"), headers=h)
    assert caplog.records, "the flow logged nothing: the test would prove nothing"
    lines = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    lines += "\n".join(str(r.__dict__) for r in caplog.records)
    for secret in [*secrets, "Renamed Secretly"]:
        assert secret not in lines, secret
    assert rid in lines or pid in lines  # ids are what the logs carry

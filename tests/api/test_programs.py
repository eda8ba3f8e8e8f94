"""Programs: create, list, read, change (config versions), delete; every mutation audited."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from api.services import programs
from api.services.context import Actor
from api.services.errors import ValidationFailed
from models import AuditEvent, Program, ProgramConfig
from tests.factories import Tenant

CONFIG: dict[str, Any] = {
    "fields": [
        {"key": "department", "type": "category", "values": ["eng", "sales"]},
        {"key": "languages", "type": "multi"},
    ],
    "position_levels": ["Associate", "Senior", "Manager"],
    "criteria": [
        {"name": "skills", "kind": "skill_overlap", "weight": 3},
        {"name": "other_department", "kind": "different", "field": "department"},
        {"name": "language", "kind": "overlap", "field": "languages", "required": True},
    ],
}


def create(client: Any, tenant: Tenant, **body: Any) -> Any:
    return client.post(
        "/v1/programs", json={"name": "Spring", "config": CONFIG, **body}, headers=tenant.headers
    )


def actions(app: Any, organization_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    with app.extensions["mentormatch"].session_factory() as s:
        rows = s.execute(
            select(AuditEvent.action, AuditEvent.details)
            .where(AuditEvent.organization_id == organization_id)
            .order_by(AuditEvent.seq)
        ).all()
    return [(a, d) for a, d in rows if a.startswith(("program", "config"))]


def test_create_and_read_a_program(app: Any, client: Any, tenant: Tenant) -> None:
    created = create(client, tenant, description="First cohort")
    assert created.status_code == 201
    body = created.json
    assert body["name"] == "Spring"
    assert body["description"] == "First cohort"
    assert body["config_version"] == 1
    # stored normalized: defaults filled in
    assert body["config"]["objective"] == "total"
    assert body["config"]["default_capacity"] == 1
    assert body["config"]["criteria"][1]["weight"] == 1.0

    read = client.get(f"/v1/programs/{body['id']}", headers=tenant.headers)
    assert read.status_code == 200
    assert read.json == body
    assert actions(app, tenant.organization_id) == [("program.created", {"config_version": 1})]


def test_list_is_cursor_paginated(client: Any, tenant: Tenant) -> None:
    ids = [create(client, tenant, name=f"P{i}").json["id"] for i in range(3)]
    first = client.get("/v1/programs?limit=2", headers=tenant.headers).json
    assert [p["id"] for p in first["items"]] == ids[:2]
    # The listing shows each program's whole configuration, as reading it one by one does.
    shown = [client.get(f"/v1/programs/{i}", headers=tenant.headers).json for i in ids[:2]]
    assert [p["config"] for p in first["items"]] == [p["config"] for p in shown]
    second = client.get(
        f"/v1/programs?limit=2&cursor={first['next_cursor']}", headers=tenant.headers
    ).json
    assert [p["id"] for p in second["items"]] == ids[2:]
    assert second["next_cursor"] is None
    bad = client.get("/v1/programs?cursor=garbage", headers=tenant.headers)
    assert bad.status_code == 422
    assert "cursor" in bad.json["errors"]


def test_config_change_is_a_new_version_only_when_changed(
    app: Any, client: Any, tenant: Tenant
) -> None:
    pid = create(client, tenant).json["id"]
    same = client.patch(
        f"/v1/programs/{pid}", json={"config": CONFIG}, headers={**tenant.headers, "If-Match": "*"}
    )
    assert same.status_code == 200
    assert same.json["config_version"] == 1

    changed = {**CONFIG, "min_score": 0.3}
    response = client.patch(
        f"/v1/programs/{pid}",
        json={"config": changed, "name": "Autumn"},
        headers={**tenant.headers, "If-Match": "*"},
    )
    assert response.status_code == 200
    assert response.json["config_version"] == 2
    assert response.json["config"]["min_score"] == 0.3
    assert response.json["name"] == "Autumn"

    renamed = client.patch(
        f"/v1/programs/{pid}",
        json={"description": None},
        headers={**tenant.headers, "If-Match": "*"},
    )
    assert renamed.json["config_version"] == 2

    with app.extensions["mentormatch"].session_factory() as s:
        versions = s.scalars(
            select(ProgramConfig.version).where(ProgramConfig.program_id == uuid.UUID(pid))
        ).all()
        assert sorted(versions) == [1, 2]
    assert actions(app, tenant.organization_id) == [
        ("program.created", {"config_version": 1}),
        ("config.changed", {"version": 2, "previous_version": 1}),
        ("program.updated", {"fields": ["name"]}),
    ]


def test_bad_config_names_every_path(app: Any, client: Any, tenant: Tenant) -> None:
    config = {
        "fields": [
            {"key": "religion", "type": "category", "values": ["a"]},
            {"key": "city", "type": "place"},
        ],
        "criteria": [
            {"name": "skills", "kind": "skill_overlap", "weight": -1},
            {"name": "x", "kind": "telepathy"},
            {"name": "y", "kind": "same", "field": "nowhere"},
        ],
        "objective": "best",
    }
    response = create(client, tenant, config=config)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    errors = response.json["errors"]
    for path in (
        "config.fields.0.key",
        "config.fields.1.type",
        "config.criteria.0.weight",
        "config.criteria.1.kind",
        "config.criteria.2.field",
        "config.objective",
    ):
        assert path in errors, (path, errors)
    with app.extensions["mentormatch"].session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Program)) == 0

    pid = create(client, tenant).json["id"]
    patched = client.patch(
        f"/v1/programs/{pid}",
        json={"config": {"criteria": []}},
        headers={**tenant.headers, "If-Match": "*"},
    )
    assert patched.status_code == 422
    assert "config.criteria" in patched.json["errors"]
    assert client.get(f"/v1/programs/{pid}", headers=tenant.headers).json["config_version"] == 1


def test_bad_bodies_are_422(client: Any, tenant: Tenant) -> None:
    cases = [
        ({"config": CONFIG}, "name"),
        ({"name": "x"}, "config"),
        ({"name": "", "config": CONFIG}, "name"),
        ({"name": "x", "config": CONFIG, "owner": "y"}, "owner"),
        ({"name": "x", "config": "all"}, "config"),
        ({"name": "   ", "config": CONFIG}, "name"),
    ]
    for body, field in cases:
        response = client.post("/v1/programs", json=body, headers=tenant.headers)
        assert response.status_code == 422, body
        assert field in response.json["errors"], (body, response.json)
    pid = create(client, tenant).json["id"]
    response = client.patch(
        f"/v1/programs/{pid}", json={"id": pid}, headers={**tenant.headers, "If-Match": "*"}
    )
    assert response.status_code == 422
    assert "id" in response.json["errors"]


def test_delete_is_soft_and_then_404(app: Any, client: Any, tenant: Tenant) -> None:
    pid = create(client, tenant).json["id"]
    for page in ("participants", "matches"):  # live and empty: an empty page, not a 404
        empty = client.get(f"/v1/programs/{pid}/{page}", headers=tenant.headers)
        assert (empty.status_code, empty.json["items"]) == (200, [])
    upload = client.post(
        f"/v1/programs/{pid}/participants",
        data="external_id,role,name\nm1,mentee,Ann\n",
        headers={**tenant.headers, "Content-Type": "text/csv"},
    )
    assert upload.status_code in (200, 201), upload.json
    someone = upload.json["ids"][0]
    assert client.delete(f"/v1/programs/{pid}", headers=tenant.headers).status_code == 204
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(f"/v1/programs/{pid}", headers=tenant.headers, json={})
        assert response.status_code == 404, method
    assert client.get("/v1/programs", headers=tenant.headers).json["items"] == []
    participants = client.get(f"/v1/programs/{pid}/participants", headers=tenant.headers)
    assert participants.status_code == 404
    assert participants.json["detail"] == f"program {pid} not found"
    matches = client.get(f"/v1/programs/{pid}/matches", headers=tenant.headers)
    assert (matches.status_code, matches.json["detail"]) == (404, f"program {pid} not found")
    one = client.get(f"/v1/programs/{pid}/participants/{someone}", headers=tenant.headers)
    assert (one.status_code, one.json["detail"]) == (404, f"program {pid} not found")
    with app.extensions["mentormatch"].session_factory() as s:
        program = s.get(Program, uuid.UUID(pid))
        assert program is not None
        assert program.deleted_at is not None
    assert actions(app, tenant.organization_id)[-1] == ("program.deleted", {})


def test_unknown_program_is_404(client: Any, tenant: Tenant) -> None:
    response = client.get(f"/v1/programs/{uuid.uuid4()}", headers=tenant.headers)
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert client.get("/v1/programs/not-a-uuid", headers=tenant.headers).status_code == 404


def _program_count(app: Any) -> int:
    with app.extensions["mentormatch"].session_factory() as s:
        return int(s.scalar(select(func.count()).select_from(Program)) or 0)


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """CONFIG with the value at ``path`` replaced (a fresh copy)."""
    config = copy.deepcopy(CONFIG)
    target: Any = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return config


HUGE = 10**400  # beyond float: math.isfinite() raises OverflowError on it


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (_with(("criteria", 0, "weight"), HUGE), "config.criteria.0.weight"),
        (_with(("min_score",), HUGE), "config.min_score"),
        (_with(("default_capacity",), HUGE), "config.default_capacity"),
        (_with(("default_capacity",), 10_001), "config.default_capacity"),
        (
            _with(
                ("criteria",),
                [{"name": "gap", "kind": "seniority_gap", "params": {"min_gap": HUGE}}],
            ),
            "config.criteria.0.params.min_gap",
        ),
        (
            {
                "fields": [{"key": "tz", "type": "number"}],
                "criteria": [
                    {"name": "tz", "kind": "proximity", "field": "tz", "params": {"scale": HUGE}}
                ],
            },
            "config.criteria.0.params.scale",
        ),
        (_with(("fields", 0, "values"), ["eng", "sa\x00les"]), "config.fields.0.values.1"),
        (_with(("criteria", 0, "name"), "ski\x00lls"), "config.criteria.0.name"),
        (_with(("position_levels",), ["Associate\x01"]), "config.position_levels.0"),
    ],
)
def test_huge_numbers_and_control_characters_in_config_are_422(
    app: Any, client: Any, tenant: Tenant, config: dict[str, Any], field: str
) -> None:
    response = create(client, tenant, config=config)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"], response.json
    assert _program_count(app) == 0

    pid = create(client, tenant).json["id"]
    patched = client.patch(
        f"/v1/programs/{pid}", json={"config": config}, headers={**tenant.headers, "If-Match": "*"}
    )
    assert patched.status_code == 422, patched.json
    assert field in patched.json["errors"], patched.json
    assert client.get(f"/v1/programs/{pid}", headers=tenant.headers).json["config_version"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Spr\x00ing"}, "name"),
        ({"name": "Spring\x1b"}, "name"),
        ({"description": "first\x00cohort"}, "description"),
    ],
)
def test_control_characters_in_name_or_description_are_422(
    app: Any, client: Any, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    response = create(client, tenant, **body)
    assert response.status_code == 422, response.json
    assert "control character" in " ".join(response.json["errors"][field])
    assert _program_count(app) == 0

    pid = create(client, tenant).json["id"]
    patched = client.patch(
        f"/v1/programs/{pid}", json=body, headers={**tenant.headers, "If-Match": "*"}
    )
    assert patched.status_code == 422, patched.json
    assert field in patched.json["errors"], patched.json
    assert client.get(f"/v1/programs/{pid}", headers=tenant.headers).json["name"] == "Spring"


def test_line_breaks_and_tabs_in_a_description_are_kept(client: Any, tenant: Tenant) -> None:
    response = create(client, tenant, description="Goals:\n\t- grow\r\n\t- learn")
    assert response.status_code == 201, response.json
    assert response.json["description"] == "Goals:\n\t- grow\r\n\t- learn"


def test_control_characters_are_refused_by_the_service_too(app: Any, tenant: Tenant) -> None:
    actor = Actor(tenant.organization_id, tenant.owner_id)
    with app.extensions["mentormatch"].session_factory() as s:
        for kwargs, field in (
            ({"name": "A\x00"}, "name"),
            ({"name": "A", "description": "\x00"}, "description"),
            (
                {"name": "A", "config": _with(("criteria", 0, "name"), "\x00")},
                "config.criteria.0.name",
            ),
        ):
            with pytest.raises(ValidationFailed) as caught:
                programs.create_program(s, actor, **{"config": CONFIG, **kwargs})
            assert field in caught.value.errors
    assert _program_count(app) == 0

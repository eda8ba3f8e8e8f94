"""Offboarding (DELETE /v1/organization) and admins as people (removed, email erased)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from api.services import audit, retention
from models import Admin, AuditEvent, Base, Organization
from tests.factories import Tenant

CONFIG = {"criteria": [{"name": "skills", "kind": "skill_overlap", "weight": 1}]}


def _second_admin(client: Any, tenant: Tenant, email: str = "ann@acme.example") -> Any:
    response = client.post("/v1/admins", json={"email": email}, headers=tenant.headers)
    assert response.status_code == 201
    return response.json


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _rows_of(app: Any, organization_id: Any) -> dict[str, int]:
    """Rows per table that belong to the organization (its own row included)."""
    counts = {}
    with app.extensions["mentormatch"].session_factory() as s:
        for table in Base.metadata.sorted_tables:
            column = table.c.id if table.name == "organizations" else table.c.organization_id
            counts[table.name] = s.scalar(
                select(func.count()).select_from(table).where(column == organization_id)
            )
    return counts


def _fill(client: Any, tenant: Tenant) -> str:
    """A program with two participants; returns its id."""
    program = client.post(
        "/v1/programs", json={"name": "Spring", "config": CONFIG}, headers=tenant.headers
    )
    assert program.status_code == 201
    pid = program.json["id"]
    people = {
        "items": [
            {"external_id": "m1", "role": "mentor", "name": "Ann Lee", "email": "ann@x.example"},
            {"external_id": "e1", "role": "mentee", "name": "Bo Chen"},
        ]
    }
    uploaded = client.post(f"/v1/programs/{pid}/participants", json=people, headers=tenant.headers)
    assert uploaded.status_code == 200
    return str(pid)


def test_deleting_the_organization_needs_its_exact_name(
    client: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    for body in ({"confirm": "Acme Inc"}, {"confirm": "acme"}, {"confirm": ""}):
        response = client.delete("/v1/organization", json=body, headers=tenant.headers)
        assert response.status_code == 422, body
        assert response.content_type == "application/problem+json"
        assert set(response.json["errors"]) == {"confirm"}
    # Naming another organization deletes nothing, neither it nor one's own.
    other = client.delete("/v1/organization", json={"confirm": "Globex"}, headers=tenant.headers)
    assert other.status_code == 422
    missing = client.delete("/v1/organization", json={}, headers=tenant.headers)
    assert missing.status_code == 422
    assert set(missing.json["errors"]) == {"confirm"}
    assert client.get("/v1/admins", headers=tenant.headers).status_code == 200  # still there
    assert client.get("/v1/admins", headers=other_tenant.headers).status_code == 200


def test_only_an_owner_deletes_the_organization(client: Any, tenant: Tenant) -> None:
    admin = _second_admin(client, tenant)
    response = client.delete(
        "/v1/organization", json={"confirm": "Acme"}, headers=_bearer(admin["api_key"])
    )
    assert response.status_code == 403
    assert client.get("/v1/admins", headers=tenant.headers).status_code == 200


def test_every_key_stops_at_once_and_the_deletion_is_audited_first(
    app: Any, client: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    admin = _second_admin(client, tenant)
    _fill(client, tenant)

    response = client.delete("/v1/organization", json={"confirm": "Acme"}, headers=tenant.headers)

    assert response.status_code == 202
    body = response.json
    assert body["id"] == str(tenant.organization_id)
    deleted_at = datetime.fromisoformat(body["deleted_at"])
    assert datetime.fromisoformat(body["purge_after"]) - deleted_at == timedelta(days=30)
    for key in (tenant.key, admin["api_key"]):
        refused = client.get("/v1/programs", headers=_bearer(key))
        assert refused.status_code == 401
        assert "revoked" in refused.json["detail"]
    assert client.get("/v1/programs", headers=other_tenant.headers).status_code == 200
    with app.extensions["mentormatch"].session_factory() as s:
        last = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.organization_id == tenant.organization_id)
            .order_by(AuditEvent.seq.desc())
        ).first()
        assert last is not None
        assert (last.action, last.actor_id) == ("organization.deleted", tenant.owner_id)
        assert last.details == {"keys_revoked": 2, "retention_days": 30}
        assert audit.verify(s, tenant.organization_id).valid


def test_an_offboarded_organization_is_purged_after_retention(
    app: Any, client: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    _second_admin(client, tenant)
    _fill(client, tenant)
    _fill(client, other_tenant)
    other_before = _rows_of(app, other_tenant.organization_id)
    ours_before = _rows_of(app, tenant.organization_id)
    assert (
        client.delete(
            "/v1/organization", json={"confirm": "Acme"}, headers=tenant.headers
        ).status_code
        == 202
    )
    factory = app.extensions["mentormatch"].session_factory
    now = datetime.now(UTC)

    with factory() as s:
        early = retention.purge_due(s, now=now + timedelta(days=29), retention_days=30)
    assert early.purged == []
    with factory() as s:
        report = retention.purge_due(s, now=now + timedelta(days=30, hours=1), retention_days=30)

    assert [(p.kind, p.id) for p in report.purged] == [("organization", tenant.organization_id)]
    rows = report.purged[0].rows
    assert rows["participants"] == 2
    assert rows["programs"] == 1
    assert rows["admins"] == 2
    assert rows["api_keys"] == 2
    assert rows["organizations"] == 1
    # Everything counted before the deletion, plus its own audit event, is gone.
    assert rows["audit_events"] == ours_before["audit_events"] + 1
    assert {t: n for t, n in rows.items() if t != "audit_events"} == {
        t: n for t, n in ours_before.items() if t != "audit_events"
    }
    assert set(_rows_of(app, tenant.organization_id).values()) == {0}
    assert _rows_of(app, other_tenant.organization_id) == other_before
    with factory() as s:
        assert s.get(Organization, tenant.organization_id) is None
        assert audit.verify(s, other_tenant.organization_id).valid
    assert client.get("/v1/programs", headers=tenant.headers).status_code == 401


def test_a_removed_admin_stays_named_and_their_email_can_be_erased(
    app: Any, client: Any, tenant: Tenant
) -> None:
    admin = _second_admin(client, tenant)
    headers = _bearer(admin["api_key"])
    pid = _fill(client, tenant)
    # The admin acts, so that audit events name them.
    assert (
        client.patch(
            f"/v1/programs/{pid}", json={"name": "Renamed"}, headers={**headers, "If-Match": "*"}
        ).status_code
        == 200
    )

    removed = client.delete(f"/v1/admins/{admin['id']}", headers=tenant.headers)
    assert removed.status_code == 204
    listed = {a["id"]: a for a in client.get("/v1/admins", headers=tenant.headers).json["items"]}
    assert listed[admin["id"]]["revoked_at"] is not None  # marked removed
    assert listed[admin["id"]]["email"] == "ann@acme.example"  # not erased unless asked
    assert listed[str(tenant.owner_id)]["revoked_at"] is None

    erased = client.delete(f"/v1/admins/{admin['id']}?erase=true", headers=tenant.headers)
    assert erased.status_code == 204
    again = client.delete(f"/v1/admins/{admin['id']}?erase=true", headers=tenant.headers)
    assert again.status_code == 204  # idempotent
    shown = next(
        a
        for a in client.get("/v1/admins", headers=tenant.headers).json["items"]
        if a["id"] == admin["id"]
    )
    assert shown["email"] is None
    assert shown["erased_at"] is not None
    assert shown["revoked_at"] is not None

    events = client.get(f"/v1/audit?actor_id={admin['id']}", headers=tenant.headers).json["items"]
    assert [e["action"] for e in events] == ["program.updated"]
    trail = client.get("/v1/audit?action=admin.erased", headers=tenant.headers).json["items"]
    assert [e["target_ids"] for e in trail] == [[admin["id"]]]  # once, despite two requests
    assert client.get("/v1/audit/verify", headers=tenant.headers).json["valid"] is True
    with app.extensions["mentormatch"].session_factory() as s:
        row = s.get(Admin, uuid.UUID(admin["id"]))
        assert row is not None
        assert row.email is None
        texts = [str(e.details) + str(e.target_ids) for e in s.scalars(select(AuditEvent))]
    assert not any("ann@acme.example" in t for t in texts)


def test_erasing_at_removal_time_and_the_freed_email(client: Any, tenant: Tenant) -> None:
    admin = _second_admin(client, tenant)
    response = client.delete(f"/v1/admins/{admin['id']}?erase=true", headers=tenant.headers)
    assert response.status_code == 204
    assert client.get("/v1/admins", headers=_bearer(admin["api_key"])).status_code == 401
    shown = {a["id"]: a for a in client.get("/v1/admins", headers=tenant.headers).json["items"]}
    assert shown[admin["id"]]["email"] is None
    assert shown[admin["id"]]["revoked_at"] is not None
    # Two erased admins (two NULL emails) do not collide; the email may be added again.
    again = _second_admin(client, tenant)
    assert (
        client.delete(f"/v1/admins/{again['id']}?erase=true", headers=tenant.headers).status_code
        == 204
    )
    assert _second_admin(client, tenant)["email"] == "ann@acme.example"


def test_only_an_owner_erases_and_a_bad_flag_is_422(client: Any, tenant: Tenant) -> None:
    admin = _second_admin(client, tenant)
    other = _second_admin(client, tenant, "bo@acme.example")
    refused = client.delete(
        f"/v1/admins/{other['id']}?erase=true", headers=_bearer(admin["api_key"])
    )
    assert refused.status_code == 403
    bad = client.delete(f"/v1/admins/{other['id']}?erase=maybe", headers=tenant.headers)
    assert bad.status_code == 422
    assert set(bad.json["errors"]) == {"erase"}

from __future__ import annotations

from typing import Any

from tests.factories import Tenant


def test_health_needs_no_key(client: Any) -> None:
    response = client.get("/v1/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_missing_or_bad_key_is_401_problem(client: Any, tenant: Tenant) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": tenant.key}):
        response = client.get("/v1/admins", headers=headers)
        assert response.status_code == 401
        assert response.content_type == "application/problem+json"
        assert response.json["status"] == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    tampered = tenant.key[:-2] + ("AA" if not tenant.key.endswith("AA") else "BB")
    assert (
        client.get("/v1/admins", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    )


def test_owner_creates_lists_and_revokes_admins(client: Any, tenant: Tenant) -> None:
    created = client.post("/v1/admins", json={"email": "Ann@Acme.example"}, headers=tenant.headers)
    assert created.status_code == 201
    body = created.json
    assert body["email"] == "ann@acme.example"
    assert body["role"] == "admin"
    new_headers = {"Authorization": f"Bearer {body['api_key']}"}

    listed = client.get("/v1/admins", headers=new_headers)
    assert listed.status_code == 200
    assert {a["email"] for a in listed.json["items"]} == {"owner@acme.example", "ann@acme.example"}
    assert all("api_key" not in a for a in listed.json["items"])

    # an admin (not owner) may not manage admins
    assert (
        client.post("/v1/admins", json={"email": "b@acme.example"}, headers=new_headers).status_code
        == 403
    )

    assert client.delete(f"/v1/admins/{body['id']}", headers=tenant.headers).status_code == 204
    revoked = client.get("/v1/admins", headers=new_headers)
    assert revoked.status_code == 401
    assert "revoked" in revoked.json["detail"]


def test_admin_create_validation(client: Any, tenant: Tenant) -> None:
    response = client.post(
        "/v1/admins", json={"email": "not-an-email", "role": "god", "x": 1}, headers=tenant.headers
    )
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert set(response.json["errors"]) == {"email", "role", "x"}

    client.post("/v1/admins", json={"email": "dup@acme.example"}, headers=tenant.headers)
    dup = client.post("/v1/admins", json={"email": "dup@acme.example"}, headers=tenant.headers)
    assert dup.status_code == 409


def test_last_owner_cannot_be_revoked(client: Any, tenant: Tenant) -> None:
    response = client.delete(f"/v1/admins/{tenant.owner_id}", headers=tenant.headers)
    assert response.status_code == 409
    assert client.get("/v1/admins", headers=tenant.headers).status_code == 200


def test_other_organizations_admin_is_404(
    client: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    response = client.delete(f"/v1/admins/{other_tenant.owner_id}", headers=tenant.headers)
    assert response.status_code == 404
    assert client.get("/v1/admins", headers=other_tenant.headers).status_code == 200

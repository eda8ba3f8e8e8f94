from __future__ import annotations

from typing import Any

from tests.factories import Tenant


def test_an_admin_rotates_their_own_key(client: Any, tenant: Tenant) -> None:
    rotated = client.post("/v1/admins/me/keys", headers=tenant.headers)
    assert rotated.status_code == 201
    assert rotated.json["admin_id"] == str(tenant.owner_id)
    new = {"Authorization": f"Bearer {rotated.json['api_key']}"}
    assert client.get("/v1/admins", headers=new).status_code == 200
    old = client.get("/v1/admins", headers=tenant.headers)
    assert old.status_code == 401
    assert "revoked" in old.json["detail"]
    actions = [e["action"] for e in client.get("/v1/audit", headers=new).json["items"]]
    assert actions[-2:] == ["key.revoked", "key.created"]


def test_a_revoked_admins_email_is_free_again(client: Any, tenant: Tenant) -> None:
    first = client.post("/v1/admins", json={"email": "ann@acme.example"}, headers=tenant.headers)
    assert (
        client.delete(f"/v1/admins/{first.json['id']}", headers=tenant.headers).status_code == 204
    )
    again = client.post("/v1/admins", json={"email": "ann@acme.example"}, headers=tenant.headers)
    assert again.status_code == 201
    assert again.json["id"] != first.json["id"]

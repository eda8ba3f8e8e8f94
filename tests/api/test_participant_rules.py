"""Uploads against a program's rules: checked positions and open categories (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import Tenant

LEVELS = ["G7", "G6", "SCS1"]
CONFIG: dict[str, Any] = {
    "fields": [
        {"key": "office", "type": "category"},  # open: no declared values
        {"key": "department", "type": "category", "values": ["eng", "sales"]},
    ],
    "position_levels": LEVELS,
    "criteria": [
        {"name": "grade", "kind": "seniority_gap", "params": {"points": {"1": 0.75, "2": 1}}},
        {"name": "office", "kind": "same", "field": "office"},
    ],
}
HEADER = "external_id,role,name,position,office,department"
CSV = "text/csv"
ALLOWED = "expected one of: G7, G6, SCS1"


def program(client: Any, tenant: Tenant, **top: Any) -> str:
    response = client.post(
        "/v1/programs", json={"name": "Grades", "config": {**CONFIG, **top}}, headers=tenant.headers
    )
    assert response.status_code == 201, response.json
    return f"/v1/programs/{response.json['id']}/participants"


def person(ext: str, position: str | None = None, **attributes: str) -> dict[str, Any]:
    return {
        "external_id": ext,
        "role": "mentee",
        "name": ext.upper(),
        "position": position,
        "attributes": attributes,
    }


def listed(client: Any, tenant: Tenant, url: str) -> list[dict[str, Any]]:
    return list(client.get(url, headers=tenant.headers).json["items"])


def test_json_upload_with_an_unlisted_position_is_422_naming_row_and_levels(
    client: Any, tenant: Tenant
) -> None:
    url = program(client, tenant)
    items = [person("a", "G7"), person("b", " g6 "), person("c", "Grade 7"), person("d")]
    response = client.post(url, json={"items": items}, headers=tenant.headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert set(response.json["errors"]) == {"items.2.position"}
    (message,) = response.json["errors"]["items.2.position"]
    assert "unknown position 'Grade 7'" in message
    assert ALLOWED in message
    assert listed(client, tenant, url) == []  # all or nothing
    one = client.post(url, json=person("e", "G8"), headers=tenant.headers)
    assert one.status_code == 422
    assert ALLOWED in one.json["errors"]["position"][0]


def test_csv_upload_with_an_unlisted_position_is_422_naming_the_row(
    client: Any, tenant: Tenant
) -> None:
    url = program(client, tenant)
    body = f"{HEADER}\na,mentee,A,G7,,\nb,mentor,B,Senior Grade,,\nc,mentor,C,,,\n"
    response = client.post(url, data=body, headers=tenant.headers, content_type=CSV)
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"row 3.position"}
    assert ALLOWED in response.json["errors"]["row 3.position"][0]
    assert listed(client, tenant, url) == []


def test_patch_to_an_unlisted_position_is_422(client: Any, tenant: Tenant) -> None:
    url = program(client, tenant)
    created = client.post(url, json=person("a", "G7"), headers=tenant.headers)
    assert created.status_code == 201
    target = f"{url}/{created.json['id']}"
    bad = client.patch(target, json={"position": "G 7"}, headers=tenant.headers)
    assert bad.status_code == 422
    assert ALLOWED in bad.json["errors"]["position"][0]
    ok = client.patch(target, json={"position": "scs1"}, headers=tenant.headers)
    assert ok.status_code == 200
    assert ok.json["position"] == "scs1"


@pytest.mark.parametrize("top", [{"positions": "open"}, {"position_levels": []}])
def test_open_positions_accept_any_position(client: Any, tenant: Tenant, top: Any) -> None:
    url = program(client, tenant, **top)
    response = client.post(url, json={"items": [person("a", "Grade 7")]}, headers=tenant.headers)
    assert response.status_code == 200, response.json
    assert listed(client, tenant, url)[0]["position"] == "Grade 7"


def test_open_category_takes_any_value_through_json_and_csv(client: Any, tenant: Tenant) -> None:
    url = program(client, tenant)
    items = [person("a", office=" Cafe\u0301 Nord "), person("b", office="Leeds")]
    response = client.post(url, json={"items": items}, headers=tenant.headers)
    assert response.status_code == 200, response.json
    body = f"{HEADER}\nc,mentor,C,G6,leeds,eng\nd,mentor,D,,Paris,\n"
    response = client.post(url, data=body, headers=tenant.headers, content_type=CSV)
    assert response.status_code == 200, response.json
    offices = {p["external_id"]: p["attributes"].get("office") for p in listed(client, tenant, url)}
    assert offices == {"a": "Caf\u00e9 Nord", "b": "Leeds", "c": "leeds", "d": "Paris"}


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("x" * 201, "at most 200 characters"),
        ("Catholic", "special category"),
        ("Lee\u200bds", "invisible"),
        (3, "expected one of: a non-empty string"),
    ],
)
def test_open_category_values_are_still_checked(
    client: Any, tenant: Tenant, value: Any, fragment: str
) -> None:
    url = program(client, tenant)
    response = client.post(url, json={"items": [person("a", office=value)]}, headers=tenant.headers)
    assert response.status_code == 422
    assert fragment in response.json["errors"]["items.0.attributes.office"][0], response.json


def test_open_category_in_csv_is_checked_naming_the_row(client: Any, tenant: Tenant) -> None:
    url = program(client, tenant)
    body = f"{HEADER}\na,mentee,A,,Leeds,\nb,mentee,B,,Muslim,\n"
    response = client.post(url, data=body, headers=tenant.headers, content_type=CSV)
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"row 3.office"}

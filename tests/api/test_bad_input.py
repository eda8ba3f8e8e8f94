"""Bad input that reached a 500 or a wrong answer now answers 4xx naming the field
(issue 12, "Bad input"; issue 11, "Minimization"), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from api.body import MAX_JSON_DEPTH
from api.schemas.matches import MAX_MATCH_IDS
from api.schemas.runs import MAX_PINS
from models import Participant
from scoring.limits import MAX_SKILL_LENGTH, MAX_SKILLS, MAX_TEXT
from tests.factories import Tenant

CONFIG: dict[str, Any] = {
    "fields": [
        {"key": "department", "type": "category", "values": ["eng", "sales"]},
        {"key": "languages", "type": "multi"},
        {"key": "utc_offset", "type": "number"},
        {"key": "bio", "type": "text"},
    ],
    "criteria": [{"name": "skills", "kind": "skill_overlap"}],
}
JSON = "application/json"
HEADER = "external_id,role,name,level,skills,department,languages,utc_offset,bio"


@pytest.fixture
def pid(client: Any, tenant: Tenant) -> str:
    response = client.post(
        "/v1/programs", json={"name": "P", "config": CONFIG}, headers=tenant.headers
    )
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def url(pid: str) -> str:
    return f"/v1/programs/{pid}/participants"


def count(app: Any) -> int:
    with app.extensions["mentormatch"].session_factory() as s:
        return int(s.scalar(select(func.count()).select_from(Participant)) or 0)


def post_raw(client: Any, tenant: Tenant, path: str, body: str | bytes, ctype: str) -> Any:
    return client.post(path, data=body, content_type=ctype, headers=tenant.headers)


# --- JSON that parsing could not survive ------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_deep_json_is_422_naming_where_it_got_too_deep(
    client: Any, tenant: Tenant, depth: int
) -> None:
    body = '{"name": "x", "config": {"fields": ' + "[" * depth + "]" * depth + "}}"
    response = post_raw(client, tenant, "/v1/programs", body, JSON)
    assert response.status_code == 422, response.json
    (path,) = response.json["errors"]
    assert path.startswith("config.fields.0.0")
    assert f"deeper than {MAX_JSON_DEPTH}" in response.json["errors"][path][0]


def test_json_as_deep_as_allowed_still_parses(client: Any, tenant: Tenant) -> None:
    inner = MAX_JSON_DEPTH - 2
    body = '{"name": "x", "config": {"a": ' + "[" * inner + "]" * inner + "}}"
    response = post_raw(client, tenant, "/v1/programs", body, JSON)
    assert response.status_code == 422
    assert "config.a" in response.json["errors"]  # the config's own check, not the depth


def test_huge_integers_are_422_naming_the_field(
    app: Any, client: Any, pid: str, tenant: Tenant
) -> None:
    body = '{"external_id": "m1", "role": "mentor", "name": "Ann", "level": ' + "9" * 5000 + "}"
    response = post_raw(client, tenant, url(pid), body, JSON)
    assert response.status_code == 422, response.json
    assert "5000 digits" in response.json["errors"]["level"][0]
    bulk = (
        '{"items": [{"external_id": "m1", "role": "mentor", "name": "A", '
        '"attributes": {"utc_offset": -' + "1" * 4301 + "}}]}"
    )
    response = post_raw(client, tenant, url(pid), bulk, JSON)
    assert response.status_code == 422, response.json
    assert list(response.json["errors"]) == ["items.0.attributes.utc_offset"]
    assert count(app) == 0


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ('{"external_id": "m\\ud800", "role": "mentor", "name": "Ann"}', "external_id"),
        ('{"external_id": "m1", "role": "mentor", "name": "Ann\\udfff"}', "name"),
        ('{"external_id": "m1", "role": "mentor", "name": "A", "skills": ["\\udc00"]}', "skills.0"),
    ],
)
def test_lone_surrogates_are_422_naming_the_field(
    app: Any, client: Any, tenant: Tenant, pid: str, body: str, path: str
) -> None:
    response = post_raw(client, tenant, url(pid), body, JSON)
    assert response.status_code == 422, response.json
    assert "surrogate" in response.json["errors"][path][0]
    assert count(app) == 0


def test_a_lone_surrogate_in_a_config_value_is_refused_on_every_database(
    client: Any, tenant: Tenant
) -> None:
    body = (
        '{"name": "P", "config": {"fields": [{"key": "d", "type": "category", '
        '"values": ["eng", "s\\ud800"]}], "criteria": [{"name": "s", "kind": "skill_overlap"}]}}'
    )
    response = post_raw(client, tenant, "/v1/programs", body, JSON)
    assert response.status_code == 422, response.json
    assert "surrogate" in " ".join(response.json["errors"]["config.fields.0.values.1"])


def test_a_surrogate_pair_is_one_character_and_accepted(
    client: Any, tenant: Tenant, pid: str
) -> None:
    body = '{"external_id": "m1", "role": "mentor", "name": "Ann \\ud83d\\ude00"}'
    response = post_raw(client, tenant, url(pid), body, JSON)
    assert response.status_code == 201, response.json
    assert response.json["name"] == "Ann \U0001f600"


# --- Identifiers that look equal --------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"external_id": "m0\u200b"}, "external_id"),
        ({"external_id": "m0\u0085"}, "external_id"),
        ({"name": "Ann\u202e"}, "name"),
        ({"skills": ["py\u2060thon"]}, "skills.0"),
        ({"exclude": ["e\ufeff1"]}, "exclude.0"),
        ({"attributes": {"department": "eng\u200b"}}, "attributes.department"),
        ({"attributes": {"languages": ["en\u00ad"]}}, "attributes.languages.0"),
    ],
)
def test_invisible_characters_in_ids_names_and_values_are_refused(
    app: Any, client: Any, tenant: Tenant, pid: str, change: dict[str, Any], path: str
) -> None:
    body = {"external_id": "m0", "role": "mentor", "name": "Ann", **change}
    response = client.post(url(pid), json=body, headers=tenant.headers)
    assert response.status_code == 422, response.json
    assert "must not contain" in " ".join(response.json["errors"][path])
    assert count(app) == 0


def test_joiners_stay_allowed_in_a_display_name(client: Any, tenant: Tenant, pid: str) -> None:
    name = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # Persian, with a ZWNJ
    body = {"external_id": "m1", "role": "mentor", "name": name}
    response = client.post(url(pid), json=body, headers=tenant.headers)
    assert response.status_code == 201, response.json
    assert response.json["name"] == name


def test_two_spellings_of_one_id_are_one_person(
    app: Any, client: Any, tenant: Tenant, pid: str
) -> None:
    composed, decomposed = "jos\u00e9", "jose\u0301"
    first = client.post(
        url(pid),
        json={"external_id": composed, "role": "mentor", "name": "Jos\u00e9"},
        headers=tenant.headers,
    )
    assert first.status_code == 201, first.json
    again = client.post(
        url(pid),
        json={"items": [{"external_id": decomposed, "role": "mentor", "name": "Jose\u0301 B"}]},
        headers=tenant.headers,
    )
    assert again.status_code == 200, again.json
    assert (again.json["created"], again.json["updated"]) == (0, 1)
    assert count(app) == 1
    shown = client.get(f"{url(pid)}/{first.json['id']}", headers=tenant.headers).json
    assert shown["name"] == "Jos\u00e9 B"


# --- Sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        ({"skills": [f"s{i}" for i in range(MAX_SKILLS + 1)]}, "skills", f"{MAX_SKILLS}"),
        ({"skills": ["x" * (MAX_SKILL_LENGTH + 1)]}, "skills.0", f"{MAX_SKILL_LENGTH}"),
        ({"attributes": {"bio": "x" * (MAX_TEXT + 1)}}, "attributes.bio", f"{MAX_TEXT}"),
        (
            {"attributes": {"languages": [f"l{i}" for i in range(101)]}},
            "attributes.languages",
            "100",
        ),
    ],
)
def test_participant_sizes_are_capped_in_json(
    client: Any, tenant: Tenant, pid: str, change: dict[str, Any], path: str, fragment: str
) -> None:
    body = {"external_id": "m1", "role": "mentor", "name": "Ann", **change}
    for payload in (body, {"items": [body]}):
        response = client.post(url(pid), json=payload, headers=tenant.headers)
        assert response.status_code == 422, response.json
        key = path if payload is body else f"items.0.{path}"
        assert fragment in " ".join(response.json["errors"][key]), response.json


def test_text_attributes_are_capped_in_csv(client: Any, tenant: Tenant, pid: str) -> None:
    body = f"{HEADER}\nm1,mentor,Ann,,,,,,{'x' * (MAX_TEXT + 1)}\n"
    response = post_raw(client, tenant, url(pid), body, "text/csv")
    assert response.status_code == 422, response.json
    assert str(MAX_TEXT) in response.json["errors"]["row 2.bio"][0]


def test_pins_and_match_ids_lists_are_capped(client: Any, tenant: Tenant, pid: str) -> None:
    pins = [[f"e{i}", "m1"] for i in range(MAX_PINS + 1)]
    response = client.post(f"/v1/programs/{pid}/runs", json={"pins": pins}, headers=tenant.headers)
    assert response.status_code == 422, response.json
    assert "pins" in response.json["errors"]
    ids = ["00000000-0000-0000-0000-000000000000"] * (MAX_MATCH_IDS + 1)
    run = "00000000-0000-0000-0000-000000000001"
    response = client.post(
        f"/v1/programs/{pid}/runs/{run}/publish", json={"match_ids": ids}, headers=tenant.headers
    )
    assert response.status_code == 422, response.json
    assert "match_ids" in response.json["errors"]


# --- Content types ----------------------------------------------------------------------


def test_an_xml_body_is_415(client: Any, tenant: Tenant, pid: str) -> None:
    for path in (url(pid), "/v1/programs"):
        response = post_raw(client, tenant, path, "<participant/>", "application/xml")
        assert response.status_code == 415, response.json
        assert response.mimetype == "application/problem+json"
        assert "application/xml" in response.json["detail"]


def test_405_carries_allow(client: Any, tenant: Tenant, pid: str) -> None:
    response = client.put(url(pid), headers=tenant.headers)
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_application_csv_is_a_csv_upload(client: Any, tenant: Tenant, pid: str) -> None:
    response = post_raw(
        client, tenant, url(pid), "external_id,role,name\nm1,mentor,Ann\n", "application/csv"
    )
    assert response.status_code == 200, response.json
    assert response.json["created"] == 1


def test_a_declared_charset_is_honoured(client: Any, tenant: Tenant, pid: str) -> None:
    body = "external_id,role,name\nm1,mentor,Jos\u00e9\n".encode("cp1252")
    response = post_raw(client, tenant, url(pid), body, "text/csv; charset=windows-1252")
    assert response.status_code == 200, response.json
    person = client.get(f"{url(pid)}/{response.json['ids'][0]}", headers=tenant.headers).json
    assert person["name"] == "Jos\u00e9"
    utf16 = "external_id,role,name\nm2,mentor,Zo\u00eb\n".encode("utf-16")
    assert post_raw(client, tenant, url(pid), utf16, "text/csv; charset=utf-16").status_code == 200


def test_an_unknown_or_wrong_charset_is_refused_clearly(
    client: Any, tenant: Tenant, pid: str
) -> None:
    body = b"external_id,role,name\nm1,mentor,Ann\n"
    unknown = post_raw(client, tenant, url(pid), body, "text/csv; charset=klingon")
    assert unknown.status_code == 415, unknown.json
    assert "klingon" in unknown.json["detail"]
    wrong = post_raw(
        client,
        tenant,
        url(pid),
        b"external_id,role,name\nm1,mentor,\xff\xfe\xfa\n",
        "text/csv; charset=ascii",
    )
    assert wrong.status_code == 422, wrong.json
    assert "not ascii text" in wrong.json["errors"]["csv"][0]


@pytest.mark.parametrize(
    ("cells", "column"),
    [
        ("m1,mentor,Ann,\u0663,,,,,", "level"),
        ("m1,mentor,Ann,007,,,,,", "level"),
        ("m1,mentor,Ann,1_0,,,,,", "level"),
        ("m1,mentor,Ann,,,,,1_000,", "utc_offset"),
        ("m1,mentor,Ann,,,,,\u0663,", "utc_offset"),
        ("m1,mentor,Ann,,,,,inf,", "utc_offset"),
        ("m1,mentor,Ann,,,,,nan,", "utc_offset"),
        ("m1,mentor,Ann,,,,,007.5,", "utc_offset"),
    ],
)
def test_numeric_csv_cells_are_plain_ascii_decimals(
    app: Any, client: Any, tenant: Tenant, pid: str, cells: str, column: str
) -> None:
    response = post_raw(client, tenant, url(pid), f"{HEADER}\n{cells}\n", "text/csv")
    assert response.status_code == 422, response.json
    assert f"row 2.{column}" in response.json["errors"]
    assert count(app) == 0


def test_plain_numeric_csv_cells_still_parse(client: Any, tenant: Tenant, pid: str) -> None:
    body = f"{HEADER}\nm1,mentor,Ann,0,,,,-2.5e1,\nm2,mentor,Bo,+3,,,,0.5,\n"
    response = post_raw(client, tenant, url(pid), body, "text/csv")
    assert response.status_code == 200, response.json

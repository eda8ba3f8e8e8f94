"""Participants: one, bulk JSON, CSV; list, read, correct; all-or-nothing uploads."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, update

from models import AuditEvent, Participant
from tests.factories import Tenant

CONFIG: dict[str, Any] = {
    "fields": [
        {"key": "department", "type": "category", "values": ["eng", "sales"]},
        {"key": "languages", "type": "multi"},
        {"key": "utc_offset", "type": "number"},
    ],
    "criteria": [
        {"name": "skills", "kind": "skill_overlap", "weight": 3},
        {"name": "language", "kind": "overlap", "field": "languages"},
    ],
}
HEADER = (
    "external_id,role,name,email,position,level,skills,capacity,exclude,"
    "department,languages,utc_offset"
)
MENTOR = {"external_id": "m1", "role": "mentor", "name": "Ann", "capacity": 2}
CSV = "text/csv"


@pytest.fixture
def pid(client: Any, tenant: Tenant) -> str:
    response = client.post(
        "/v1/programs", json={"name": "Spring", "config": CONFIG}, headers=tenant.headers
    )
    assert response.status_code == 201
    return str(response.json["id"])


def url(pid: str, suffix: str = "") -> str:
    return f"/v1/programs/{pid}/participants{suffix}"


def count(app: Any) -> int:
    with app.extensions["mentormatch"].session_factory() as s:
        return int(s.scalar(select(func.count()).select_from(Participant)) or 0)


def audit_details(app: Any, action: str) -> list[dict[str, Any]]:
    with app.extensions["mentormatch"].session_factory() as s:
        return list(
            s.scalars(
                select(AuditEvent.details)
                .where(AuditEvent.action == action)
                .order_by(AuditEvent.seq)
            )
        )


def csv_body(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def test_create_one_then_read_and_conflict(app: Any, client: Any, tenant: Tenant, pid: str) -> None:
    body = {
        **MENTOR,
        "email": "ann@acme.example",
        "position": "Senior",
        "level": 2,
        "skills": ["python", "sql"],
        "attributes": {"department": "Eng", "languages": ["en"], "utc_offset": 1},
        "exclude": ["x9"],
    }
    created = client.post(url(pid), json=body, headers=tenant.headers)
    assert created.status_code == 201
    p = created.json
    assert p["attributes"] == {"department": "eng", "languages": ["en"], "utc_offset": 1}
    assert p["active"] is True
    assert p["erased_at"] is None
    assert p["role"] == "mentor"

    read = client.get(url(pid, f"/{p['id']}"), headers=tenant.headers)
    assert read.status_code == 200
    assert read.json == p

    again = client.post(url(pid), json=MENTOR, headers=tenant.headers)
    assert again.status_code == 409
    assert count(app) == 1
    with app.extensions["mentormatch"].session_factory() as s:
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "participant.created")
        ).one()
        assert event.target_ids == [p["id"]]
        assert "Ann" not in str(event.details)
        assert "ann@" not in str(event.details)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"role": "boss"}, "role"),
        ({"name": None}, "name"),
        ({"level": "3"}, "level"),
        ({"capacity": -1}, "capacity"),
        ({"skills": [1]}, "skills.0"),
        ({"nickname": "A"}, "nickname"),
        ({"attributes": {"department": "hr"}}, "attributes.department"),
        ({"attributes": {"floor": 3}}, "attributes.floor"),
        ({"attributes": {"utc_offset": "x"}}, "attributes.utc_offset"),
        ({"attributes": {"languages": "en"}}, "attributes.languages"),
        ({"email": "nope"}, "email"),
        ({"role": "mentee", "capacity": 10_001}, "capacity"),  # mentees' is bounded too
    ],
)
def test_create_one_bad_input_names_the_field(
    app: Any, client: Any, tenant: Tenant, pid: str, change: dict[str, Any], field: str
) -> None:
    response = client.post(url(pid), json={**MENTOR, **change}, headers=tenant.headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert field in response.json["errors"], response.json
    assert count(app) == 0


def test_bulk_upsert_by_external_id(app: Any, client: Any, tenant: Tenant, pid: str) -> None:
    first = client.post(
        url(pid),
        json={"items": [MENTOR, {"external_id": "e1", "role": "mentee", "name": "Bo"}]},
        headers=tenant.headers,
    )
    assert first.status_code == 200
    assert first.json["created"] == 2
    assert first.json["updated"] == 0
    m1, e1 = first.json["ids"]

    second = client.post(
        url(pid),
        json={
            "items": [
                {"external_id": "m1", "role": "mentor", "name": "Ann B", "skills": ["go"]},
                {"external_id": "e1", "role": "mentee", "name": "Bo"},
                {"external_id": "e2", "role": "mentee", "name": "Cy"},
            ]
        },
        headers=tenant.headers,
    )
    assert second.status_code == 200
    assert (second.json["created"], second.json["updated"], second.json["unchanged"]) == (1, 1, 1)
    assert second.json["ids"][:2] == [m1, e1]
    ann = client.get(url(pid, f"/{m1}"), headers=tenant.headers).json
    # given values replace, the others stay
    assert ann["name"] == "Ann B"
    assert ann["skills"] == ["go"]
    assert ann["capacity"] == 2
    assert count(app) == 3
    assert [d["created"] for d in audit_details(app, "participants.imported")] == [2, 1]


def test_bulk_with_any_bad_row_writes_nothing(
    app: Any, client: Any, tenant: Tenant, pid: str
) -> None:
    client.post(url(pid), json=MENTOR, headers=tenant.headers)
    items = [{"external_id": f"e{i}", "role": "mentee", "name": f"N{i}"} for i in range(5)]
    items[3]["attributes"] = {"department": "hr"}
    items[4]["external_id"] = "e1"
    items.append({"external_id": "m1", "role": "mentor", "name": "Ann", "capacity": -2})
    response = client.post(url(pid), json={"items": items}, headers=tenant.headers)
    assert response.status_code == 422
    errors = response.json["errors"]
    assert set(errors) == {
        "items.3.attributes.department",
        "items.4.external_id",
        "items.5.capacity",
    }
    assert "duplicate external_id 'e1'" in errors["items.4.external_id"][0]
    assert count(app) == 1
    assert client.get(url(pid), headers=tenant.headers).json["items"][0]["capacity"] == 2

    shape = client.post(
        url(pid),
        json={"items": [{"external_id": "x", "name": "X", "level": "2", "colour": "red"}]},
        headers=tenant.headers,
    )
    assert shape.status_code == 422
    assert set(shape.json["errors"]) == {
        "items.0.role",
        "items.0.level",
        "items.0.colour",
    }
    empty = client.post(url(pid), json={"items": []}, headers=tenant.headers)
    assert empty.status_code == 422
    assert "items" in empty.json["errors"]
    not_objects = client.post(url(pid), json={"items": [MENTOR, 3]}, headers=tenant.headers)
    assert not_objects.status_code == 422
    assert "items.1" in not_objects.json["errors"]
    assert count(app) == 1


def test_many_errors_are_capped(app: Any, client: Any, tenant: Tenant, pid: str) -> None:
    rows = [f"e{i},boss,N{i},,,,,,,,," for i in range(150)]
    response = client.post(
        url(pid), data=csv_body(*rows), headers={**tenant.headers}, content_type=CSV
    )
    assert response.status_code == 422
    assert len(response.json["errors"]) == 100
    assert "150 problem(s)" in response.json["detail"]
    assert count(app) == 0


def test_csv_upload_creates_and_updates(app: Any, client: Any, tenant: Tenant, pid: str) -> None:
    body = csv_body(
        "m1,mentor,Ann,ann@acme.example,Senior,3,python;sql,2,e2,eng,en;fr,1.5",
        '"e1",Mentee,"Lee, Bo",,,,go,,,sales,,-5',
        "e2,mentee,Cy,,,,,,,,,",
    )
    response = client.post(url(pid), data=body, headers=tenant.headers, content_type=CSV)
    assert response.status_code == 200, response.json
    assert response.json["created"] == 3
    assert len(response.json["ids"]) == 3
    listed = client.get(url(pid), headers=tenant.headers).json["items"]
    assert [p["external_id"] for p in listed] == ["m1", "e1", "e2"]  # upload order
    ann, bo, _ = listed
    assert ann["skills"] == ["python", "sql"]
    assert ann["level"] == 3
    assert ann["exclude"] == ["e2"]
    assert ann["attributes"] == {"department": "eng", "languages": ["en", "fr"], "utc_offset": 1.5}
    assert bo["name"] == "Lee, Bo"
    assert bo["role"] == "mentee"
    assert bo["attributes"] == {"department": "sales", "utc_offset": -5}

    # a CSV with fewer columns updates only those; empty cells clear values
    update_body = "external_id,role,name,department,utc_offset\nm1,mentor,Ann,sales,\n"
    again = client.post(url(pid), data=update_body, headers=tenant.headers, content_type=CSV)
    assert again.status_code == 200
    assert (again.json["created"], again.json["updated"]) == (0, 1)
    ann = client.get(url(pid, f"/{ann['id']}"), headers=tenant.headers).json
    assert ann["attributes"] == {"department": "sales", "languages": ["en", "fr"]}
    assert ann["skills"] == ["python", "sql"]
    assert ann["capacity"] == 2
    assert [d["source"] for d in audit_details(app, "participants.imported")] == ["csv", "csv"]


def test_broken_csv_names_row_and_field_and_writes_nothing(
    app: Any, client: Any, tenant: Tenant, pid: str
) -> None:
    body = csv_body(
        "m1,mentor,Ann,,,,,2,,eng,,",
        "e1,mentee,Bo,,,high,,,,eng,,",
        "e2,mentee,Cy,,,,,,,marketing,,",
        "e3,mentee,Di,,,,,-1,,,,abc",
        "m1,mentor,Ann again,,,,,,,,,",
    )
    response = client.post(url(pid), data=body, headers=tenant.headers, content_type=CSV)
    assert response.status_code == 422
    assert response.json["errors"] == {
        "row 3.level": ["expected a whole number, got 'high'"],
        "row 4.department": ["unknown value 'marketing'; expected one of: eng, sales"],
        "row 5.utc_offset": ["expected a number, got 'abc'"],
        "row 5.capacity": ["capacity must be a whole number from 0 to 10000, or empty; got -1"],
        "row 6.external_id": ["duplicate external_id 'm1' (also row 2)"],
    }
    assert count(app) == 0

    header = client.post(
        url(pid), data="external_id,role,name,dept\n", headers=tenant.headers, content_type=CSV
    )
    assert header.status_code == 422
    assert "header" in header.json["errors"]


def test_list_filters_and_pagination(client: Any, tenant: Tenant, pid: str) -> None:
    items = [{"external_id": f"e{i}", "role": "mentee", "name": f"N{i}"} for i in range(4)]
    items[1]["active"] = False
    items.append(MENTOR)
    ids = client.post(url(pid), json={"items": items}, headers=tenant.headers).json["ids"]

    def listed(query: str) -> list[str]:
        return [p["id"] for p in client.get(url(pid, query), headers=tenant.headers).json["items"]]

    assert listed("") == ids
    assert listed("?role=mentor") == [ids[4]]
    assert listed("?role=mentee&active=false") == [ids[1]]
    assert listed("?active=true") == [ids[0], *ids[2:]]
    page = client.get(url(pid, "?limit=3"), headers=tenant.headers).json
    rest = client.get(url(pid, f"?limit=3&cursor={page['next_cursor']}"), headers=tenant.headers)
    assert [p["id"] for p in page["items"] + rest.json["items"]] == ids
    assert rest.json["next_cursor"] is None
    for query in ("?role=boss", "?active=maybe", "?limit=0", "?cursor=x"):
        response = client.get(url(pid, query), headers=tenant.headers)
        assert response.status_code == 422, query


def test_patch_revalidates_and_audits(app: Any, client: Any, tenant: Tenant, pid: str) -> None:
    p = client.post(url(pid), json=MENTOR, headers=tenant.headers).json
    client.post(
        url(pid), json={"external_id": "e1", "role": "mentee", "name": "Bo"}, headers=tenant.headers
    )
    target = url(pid, f"/{p['id']}")

    ok = client.patch(
        target, json={"level": 4, "attributes": {"department": "sales"}}, headers=tenant.headers
    )
    assert ok.status_code == 200
    assert ok.json["level"] == 4
    assert ok.json["attributes"] == {"department": "sales"}
    assert ok.json["name"] == "Ann"
    assert ok.json["capacity"] == 2

    # a mentee keeps a capacity too: the mentors it takes
    both = client.patch(target, json={"role": "mentee"}, headers=tenant.headers)
    assert both.status_code == 200
    assert (both.json["role"], both.json["capacity"]) == ("mentee", 2)

    for body, field in (
        ({"attributes": {"department": "hr"}}, "attributes.department"),
        ({"id": p["id"]}, "id"),
        ({"name": ""}, "name"),
    ):
        response = client.patch(target, json=body, headers=tenant.headers)
        assert response.status_code == 422, body
        assert field in response.json["errors"], body
    taken = client.patch(target, json={"external_id": "e1"}, headers=tenant.headers)
    assert taken.status_code == 409

    assert audit_details(app, "participant.updated") == [
        {"fields": ["level", "attributes"]},
        {"fields": ["role"]},
    ]
    missing = client.patch(url(pid, f"/{uuid.uuid4()}"), json={"level": 1}, headers=tenant.headers)
    assert missing.status_code == 404


def test_erased_participant_reads_as_anonymous(
    app: Any, client: Any, tenant: Tenant, pid: str
) -> None:
    p = client.post(
        url(pid), json={**MENTOR, "email": "ann@acme.example"}, headers=tenant.headers
    ).json
    with app.extensions["mentormatch"].session_factory() as s:
        s.execute(
            update(Participant)
            .where(Participant.id == uuid.UUID(p["id"]))
            .values(erased_at=datetime.now(UTC))
        )
        s.commit()
    read = client.get(url(pid, f"/{p['id']}"), headers=tenant.headers).json
    assert read["name"] == "Anonymous user"
    assert read["email"] is None
    assert read["external_id"] is None
    assert datetime.fromisoformat(read["erased_at"]) <= datetime.now(UTC)
    listed = client.get(url(pid), headers=tenant.headers).json["items"]
    assert "ann@acme.example" not in str(listed)
    assert listed[0]["name"] == "Anonymous user"
    response = client.patch(url(pid, f"/{p['id']}"), json={"name": "Ann"}, headers=tenant.headers)
    assert response.status_code == 409


def test_oversize_request_is_413_problem(db_url: str, tenant: Tenant) -> None:
    from api.app import create_app

    small = create_app({"DATABASE_URL": db_url, "MAX_CONTENT_LENGTH": 2000, "LOG_LEVEL": "WARNING"})
    client = small.test_client()
    try:
        program = client.post(
            "/v1/programs", json={"name": "S", "config": CONFIG}, headers=tenant.headers
        )
        assert program.status_code == 201
        big_csv = csv_body(*(f"e{i},mentee,N{i},,,,,,,,," for i in range(200)))
        for kwargs in (
            {"data": big_csv, "content_type": CSV},
            {
                "json": {
                    "items": [
                        {"external_id": f"e{i}", "role": "mentee", "name": "N"} for i in range(200)
                    ]
                }
            },
        ):
            response = client.post(url(program.json["id"]), headers=tenant.headers, **kwargs)
            assert response.status_code == 413
            assert response.content_type == "application/problem+json"
            assert response.json["status"] == 413
    finally:
        small.extensions["mentormatch"].engine.dispose()


# --- Inputs that once answered 500: bounds, huge numbers, control characters ------------

TEXT_CONFIG: dict[str, Any] = {
    "fields": [
        {"key": "bio", "type": "text"},
        {"key": "utc_offset", "type": "number"},
        {"key": "department", "type": "category", "values": ["eng", "sales"]},
    ],
    "criteria": [{"name": "skills", "kind": "skill_overlap"}],
}

#: (change to MENTOR, field named in the errors, message fragment)
BAD_VALUES: list[tuple[dict[str, Any], str, str]] = [
    ({"capacity": 10**20}, "capacity", "from 0 to 10000"),
    ({"capacity": 2**40}, "capacity", "from 0 to 10000"),  # past PostgreSQL's int4
    ({"capacity": 10_001}, "capacity", "from 0 to 10000"),
    ({"level": 10**20}, "level", "from 0 to 1000"),
    ({"level": 1001}, "level", "from 0 to 1000"),
    ({"attributes": {"utc_offset": 10**400}}, "attributes.utc_offset", "at most 50 digits"),
    ({"attributes": {"utc_offset": 1e39}}, "attributes.utc_offset", "from -1e+12 to 1e+12"),
    ({"name": "Ann\x00"}, "name", "control character"),
    ({"external_id": "m\x001"}, "external_id", "control character"),
    ({"email": "ann\x00@acme.example"}, "email", "control character"),
    ({"position": "Lead\x07"}, "position", "control character"),
    ({"skills": ["python", "s\x00ql"]}, "skills.1", "control character"),
    ({"exclude": ["e\x1b1"]}, "exclude.0", "control character"),
    ({"attributes": {"bio": "likes\x00tea"}}, "attributes.bio", "control character"),
    ({"attributes": {"department": "eng\x00"}}, "attributes.department", "control character"),
    ({"active": "yes"}, "active", "true or false"),
    ({"active": 1}, "active", "true or false"),
]


@pytest.fixture
def text_pid(client: Any, tenant: Tenant) -> str:
    response = client.post(
        "/v1/programs", json={"name": "Text", "config": TEXT_CONFIG}, headers=tenant.headers
    )
    assert response.status_code == 201, response.json
    return str(response.json["id"])


@pytest.mark.parametrize(("change", "field", "message"), BAD_VALUES)
def test_out_of_range_and_control_characters_are_422_for_one_and_bulk(
    app: Any,
    client: Any,
    tenant: Tenant,
    text_pid: str,
    change: dict[str, Any],
    field: str,
    message: str,
) -> None:
    one = client.post(url(text_pid), json={**MENTOR, **change}, headers=tenant.headers)
    assert one.status_code == 422, one.json
    assert message in " ".join(one.json["errors"][field]), one.json

    items = [{"external_id": "e1", "role": "mentee", "name": "Bo"}, {**MENTOR, **change}]
    bulk = client.post(url(text_pid), json={"items": items}, headers=tenant.headers)
    assert bulk.status_code == 422, bulk.json
    assert message in " ".join(bulk.json["errors"][f"items.1.{field}"]), bulk.json
    assert count(app) == 0


def test_patch_refuses_out_of_range_and_control_characters(
    client: Any, tenant: Tenant, text_pid: str
) -> None:
    created = client.post(url(text_pid), json=MENTOR, headers=tenant.headers)
    assert created.status_code == 201
    one = url(text_pid, f"/{created.json['id']}")
    for change, field in (
        ({"capacity": 10**20}, "capacity"),
        ({"level": 2**40}, "level"),
        ({"name": "A\x00"}, "name"),
        ({"attributes": {"utc_offset": 10**400}}, "attributes.utc_offset"),
    ):
        response = client.patch(one, json=change, headers=tenant.headers)
        assert response.status_code == 422, response.json
        assert field in response.json["errors"], response.json
    assert client.get(one, headers=tenant.headers).json["capacity"] == 2


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ("m1,mentor,Ann,99999999999999999999999,,,", "capacity", "from 0 to 10000"),
        ("m1,mentor,Ann,10001,,,", "capacity", "from 0 to 10000"),
        ("m1,mentor,Ann,2," + "9" * 5000 + ",,", "level", "from 0 to 1000"),
        ("m1,mentor,Ann,2,1001,,", "level", "from 0 to 1000"),
        ("m1,mentor,Ann\x00,2,,,", "name", "control character"),
        ("m\x001,mentor,Ann,2,,,", "external_id", "control character"),
        ('m1,mentor,Ann,2,,"a\x00b",', "bio", "control character"),
        ("m1,mentor,Ann,2,,,1" + "0" * 400, "utc_offset", "finite number"),
    ],
)
def test_csv_out_of_range_and_control_characters_are_422(
    app: Any, client: Any, tenant: Tenant, text_pid: str, row: str, field: str, message: str
) -> None:
    body = f"external_id,role,name,capacity,level,bio,utc_offset\ne1,mentee,Bo,,,,\n{row}\n"
    response = client.post(url(text_pid), data=body, headers=tenant.headers, content_type=CSV)
    assert response.status_code == 422, response.json
    assert message in " ".join(response.json["errors"][f"row 3.{field}"]), response.json
    assert count(app) == 0


def test_bounds_and_free_text_whitespace_are_accepted(
    client: Any, tenant: Tenant, text_pid: str
) -> None:
    body = {
        **MENTOR,
        "capacity": 10_000,
        "level": 1000,
        "attributes": {"bio": "line one\nline two\r\n\tindented", "utc_offset": 10**12},
    }
    response = client.post(url(text_pid), json=body, headers=tenant.headers)
    assert response.status_code == 201, response.json
    assert response.json["attributes"]["bio"] == "line one\nline two\r\n\tindented"
    assert (response.json["capacity"], response.json["level"]) == (10_000, 1000)


def test_query_string_booleans_still_parse(client: Any, tenant: Tenant, pid: str) -> None:
    client.post(url(pid), json=MENTOR, headers=tenant.headers)
    listed = client.get(url(pid, "?active=true"), headers=tenant.headers)
    assert listed.status_code == 200
    assert len(listed.json["items"]) == 1
    assert client.get(url(pid, "?active=false"), headers=tenant.headers).json["items"] == []


@pytest.mark.parametrize(
    "payload",
    [["2020-01-01", 5], ["2020-01-01T00:00:00+00:00", 5], [1, 2], {"a": 1}, "x", [[[[]]]]],
)
def test_forged_list_cursor_is_422(client: Any, tenant: Tenant, pid: str, payload: Any) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    response = client.get(url(pid, f"?cursor={cursor}"), headers=tenant.headers)
    assert response.status_code == 422, response.json
    assert "cursor" in response.json["errors"]

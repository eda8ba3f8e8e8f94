"""Erasure over HTTP: after a run, a publication and outcomes, the person is nowhere.

The flow goes through the API (jobs inline); then every column of every table, every
export format and every captured log record is searched for the erased person's
name, email and external id.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
import zipfile
from typing import Any

import pytest
from sqlalchemy import select

from api.services import learning
from api.services.lookup import config_of
from models import AuditEvent, Base, Match, Participant, Program, Run
from tests.factories import RUN_CONFIG, Tenant

EXT, NAME, EMAIL = "zq-erase-4411", "Quentin Vexley", "quentin.vexley@erase.example"
NEEDLES = (EXT, NAME, EMAIL, "Quentin", "Vexley")


def person(ext: str, role: str, skills: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "external_id": ext,
        "role": role,
        "name": f"Person {ext}",
        "skills": skills,
        "attributes": {"languages": ["en"]},
        **extra,
    }


def _ok(response: Any, *statuses: int) -> Any:
    assert response.status_code in statuses, (response.status_code, response.get_data()[:300])
    return response


def found_in(text: str) -> list[str]:
    lowered = text.lower()
    return [n for n in NEEDLES if n.lower() in lowered]


def scan_tables(factory: Any) -> dict[str, list[str]]:
    """Every table, every column as text: where any needle still appears."""
    hits: dict[str, list[str]] = {}
    with factory() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)):
                for column, value in row._mapping.items():
                    if isinstance(value, bytes):
                        text = value.decode("latin-1")
                    elif isinstance(value, dict | list):
                        text = json.dumps(value, ensure_ascii=False)
                    else:
                        text = str(value)
                    if found := found_in(text):
                        hits.setdefault(f"{table.name}.{column}", []).extend(found)
    return hits


def _csv_text(zipped: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        return "\n".join(archive.read(n).decode("utf-8-sig") for n in archive.namelist())


@pytest.fixture
def flow(app: Any, client: Any, tenant: Tenant) -> dict[str, Any]:
    """A program, a dry run pinning the person, a run, its publication and outcomes."""
    app.extensions["mentormatch"].jobs.huey.immediate = True
    h = tenant.headers
    pid = _ok(
        client.post("/v1/programs", json={"name": "Spring", "config": RUN_CONFIG}, headers=h), 201
    ).json["id"]
    items = [
        person("m1", "mentor", ["python", "sql"], capacity=2),
        person("m2", "mentor", ["go"], capacity=1),
        {
            **person(EXT, "mentee", ["python", "sql"]),
            "name": NAME,
            "email": EMAIL,
            "position": "Quentin's desk",
        },
        person("e2", "mentee", ["go"], exclude=[EXT, "m9"]),
    ]
    ids = _ok(
        client.post(f"/v1/programs/{pid}/participants", json={"items": items}, headers=h), 200
    ).json["ids"]
    target, mentor, other = ids[2], ids[0], ids[3]
    dry = _ok(
        client.post(
            f"/v1/programs/{pid}/runs?wait=10",
            json={"dry_run": True, "pins": [[EXT, "m1"]]},
            headers=h,
        ),
        201,
    ).json
    assert dry["options"]["pins"] == [[EXT, "m1"]]
    run = _ok(client.post(f"/v1/programs/{pid}/runs?wait=10", json={}, headers=h), 201).json
    _ok(client.post(f"/v1/programs/{pid}/runs/{run['id']}/publish", json={}, headers=h), 200)
    matches = client.get(f"/v1/programs/{pid}/runs/{run['id']}/matches", headers=h).json["items"]
    mine = next(m for m in matches if m["mentee"]["id"] == target)
    assert mine["status"] == "published"
    assert any("python" in r for r in mine["reasons"])  # the reasons quote their skills
    outcome = {"meetings": 4, "mentee_rating": 5, "ended_reason": f"{NAME} moved teams"}
    _ok(client.post(f"/v1/matches/{mine['id']}/outcomes", json=outcome, headers=h), 201)
    return {
        "pid": pid,
        "target": target,
        "mentor": mentor,
        "other": other,
        "match": mine["id"],
        "run": run["id"],
        "dry": dry["id"],
    }


def test_an_erased_person_appears_nowhere_and_their_matches_still_count(
    app: Any, client: Any, tenant: Tenant, flow: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    h, pid, factory = tenant.headers, flow["pid"], app.extensions["mentormatch"].session_factory
    base = f"/v1/programs/{pid}/participants"
    # A failed run whose error names the person, as a matcher refusal does.
    with factory() as s:
        program = s.get(Program, uuid.UUID(pid))
        assert program is not None
        s.add(
            Run(
                id=uuid.uuid4(),
                organization_id=tenant.organization_id,
                program_id=program.id,
                status="failed",
                config_version=1,
                options={"pins": [[EXT, "m1"]]},
                error=f"the matcher refused the run: pin [{EXT!r}, 'm1'] is not allowed",
            )
        )
        s.commit()
    # An export built before the erasure and not downloaded: it holds the person.
    app.config["EXPORT_JOB_ROWS"] = 0
    job = _ok(client.get("/v1/export", headers=h), 202)
    assert job.json["status"] == "ready"
    del app.config["EXPORT_JOB_ROWS"]
    assert found_in(json.dumps(client.get(f"{base}/{flow['target']}", headers=h).json))

    erased = client.delete(f"{base}/{flow['target']}", headers=h)
    assert erased.status_code == 204
    assert erased.get_data() == b""
    assert client.delete(f"{base}/{flow['target']}", headers=h).status_code == 204  # idempotent

    shown = _ok(client.get(f"{base}/{flow['target']}", headers=h), 200).json
    assert shown["name"] == "Anonymous user"
    assert shown["external_id"] is None
    assert shown["email"] is None
    assert shown["skills"] == []
    assert shown["active"] is False
    assert shown["erased_at"] is not None
    assert client.get(job.headers["Location"], headers=h).status_code == 404  # discarded

    # Their match ended with reason "erased"; the mentor's place is released.
    match = _ok(client.get(f"/v1/matches/{flow['match']}", headers=h), 200).json
    assert match["status"] == "ended"
    assert match["ended_reason"] == "erased"
    assert match["mentee"] == {"id": flow["target"], "external_id": None, "name": "Anonymous user"}
    assert match["breakdown"]  # numbers and criterion names stay: learning reads them
    ended = client.get(f"/v1/programs/{pid}/matches?status=ended", headers=h).json["items"]
    assert flow["match"] in [m["id"] for m in ended]
    dry_matches = client.get(f"/v1/programs/{pid}/runs/{flow['dry']}/matches", headers=h).json
    assert {m["status"] for m in dry_matches["items"] if m["mentee"]["id"] == flow["target"]} == {
        "rejected"
    }
    with factory() as s:
        mentor = s.get(Participant, uuid.UUID(flow["mentor"]))
        assert mentor is not None
        assert mentor.published_load == 0
        program = s.get(Program, uuid.UUID(pid))
        assert program is not None
        past = learning.past_matches(s, program.id, config_of(s, program))
        assert uuid.UUID(flow["match"]) in past.match_ids  # learning still counts the pair
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "participant.erased")
        ).all()
        assert [e.target_ids for e in events] == [[flow["target"]]]  # once, by id
    other = client.get(f"{base}/{flow['other']}", headers=h).json
    assert other["exclude"] == ["m9"]

    # The next run leaves them out (e2 is published: no mentee is left to match).
    run = _ok(client.post(f"/v1/programs/{pid}/runs?wait=10", json={}, headers=h), 201).json
    assert run["stats"]["n_mentees"] == 0

    # Every export format, and the person's own access export.
    outputs = {
        "json": client.get("/v1/export", headers=h).get_data(as_text=True),
        "csv": _csv_text(client.get("/v1/export?format=csv", headers=h).get_data()),
        "access": json.dumps(client.get(f"{base}/{flow['target']}/export", headers=h).json),
        "access_other": json.dumps(client.get(f"{base}/{flow['other']}/export", headers=h).json),
        "participants": json.dumps(client.get(f"{base}?limit=50", headers=h).json),
        "audit": json.dumps(client.get("/v1/audit?limit=500", headers=h).json),
    }
    access = json.loads(outputs["access"])
    assert [m["id"] for m in access["matches"]].count(flow["match"]) == 1
    assert access["matches"][-1]["reasons"] != []
    assert {o: found_in(t) for o, t in outputs.items() if found_in(t)} == {}
    assert scan_tables(factory) == {}
    logged = caplog.text + "\n".join(str(r.__dict__) for r in caplog.records)
    assert found_in(logged) == []
    assert any(r.name == "mentormatch.access" for r in caplog.records)  # logs were captured

    # The same external id again is a new, unrelated participant.
    again = _ok(
        client.post(f"{base}", json={"items": [person(EXT, "mentee", ["sql"])]}, headers=h), 200
    ).json
    assert again["created"] == 1
    assert again["ids"][0] != flow["target"]


def test_erasing_another_organizations_participant_is_404(
    client: Any, tenant: Tenant, other_tenant: Tenant, flow: dict[str, Any]
) -> None:
    url = f"/v1/programs/{flow['pid']}/participants/{flow['target']}"
    assert client.delete(url, headers=other_tenant.headers).status_code == 404
    assert client.get(f"{url}/export", headers=other_tenant.headers).status_code == 404
    assert client.get(url, headers=tenant.headers).json["name"] == NAME  # untouched


def test_an_unknown_participant_is_404(client: Any, tenant: Tenant, flow: dict[str, Any]) -> None:
    url = f"/v1/programs/{flow['pid']}/participants/{uuid.uuid4()}"
    assert client.delete(url, headers=tenant.headers).status_code == 404


def test_the_access_export_holds_everything_about_them_and_is_audited(
    app: Any, client: Any, tenant: Tenant, flow: dict[str, Any]
) -> None:
    url = f"/v1/programs/{flow['pid']}/participants/{flow['target']}/export"
    body = _ok(client.get(url, headers=tenant.headers), 200).json
    assert body["participant"]["email"] == EMAIL
    assert body["participant"]["id"] == flow["target"]
    published = next(m for m in body["matches"] if m["id"] == flow["match"])
    assert published["score"] > 0
    assert published["reasons"]
    assert [o["meetings"] for o in published["outcomes"]] == [4]
    assert {m["run_id"] for m in body["matches"]} == {flow["run"], flow["dry"]}
    actions = {e["action"] for e in body["audit_events"]}
    assert {"match.published", "outcome.recorded"} <= actions
    assert all(
        flow["target"] in json.dumps(e) or flow["match"] in json.dumps(e)
        for e in body["audit_events"]
    )
    with app.extensions["mentormatch"].session_factory() as s:
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "participant.exported")
        ).one()
        assert event.target_ids == [flow["target"]]
        assert event.actor_id == tenant.owner_id


def test_erasure_keeps_the_match_rows(
    app: Any, client: Any, tenant: Tenant, flow: dict[str, Any]
) -> None:
    factory = app.extensions["mentormatch"].session_factory
    with factory() as s:
        before = s.scalars(select(Match.id).order_by(Match.id)).all()
    url = f"/v1/programs/{flow['pid']}/participants/{flow['target']}"
    assert client.delete(url, headers=tenant.headers).status_code == 204
    with factory() as s:
        assert s.scalars(select(Match.id).order_by(Match.id)).all() == before
        assert s.get(Participant, uuid.UUID(flow["target"])) is not None

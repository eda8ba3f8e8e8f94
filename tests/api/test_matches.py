"""The review-and-publish flow over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from api.services.context import Actor
from tests.factories import Scenario, Tenant, make_match, make_participant, make_run, proposals


def _scenario(app: Any, tenant: Tenant, **kw: Any) -> Scenario:
    actor = Actor(tenant.organization_id, tenant.owner_id, "owner")
    with app.extensions["mentormatch"].session_factory() as s:
        return proposals(s, actor, **kw)


def test_review_edit_publish_end_flow(app: Any, client: Any, tenant: Tenant) -> None:
    s = _scenario(app, tenant, pairs=2, spare_mentors=1)
    base = f"/v1/programs/{s.program.id}"
    h = tenant.headers

    listed = client.get(f"{base}/runs/{s.run.id}/matches", headers=h)
    assert listed.status_code == 200
    body = listed.json
    assert len(body["items"]) == 2
    assert body["next_cursor"] is None
    item = body["items"][0]
    assert set(item["mentee"]) == {"id", "external_id", "name"}
    assert {"score", "breakdown", "reasons", "status"} <= set(item)
    assert body["unmatched"] == [
        {
            "mentee": {"id": str(s.unmatched[0].id), "external_id": "u0", "name": "Person u0"},
            "reason": "no_allowed_mentor",
        }
    ]
    assert body["unmatched_count"] == 1

    first = str(s.matches[0].id)
    edited = client.patch(
        f"/v1/matches/{first}", json={"mentor_external_id": "m2", "version": 1}, headers=h
    )
    assert edited.status_code == 200, edited.json
    assert edited.json["mentor"]["external_id"] == "m2"
    assert edited.json["version"] == 2
    stale = client.patch(
        f"/v1/matches/{first}", json={"status": "rejected", "version": 1}, headers=h
    )
    assert stale.status_code == 409
    assert stale.content_type == "application/problem+json"

    published = client.post(
        f"{base}/runs/{s.run.id}/publish", json={"match_ids": [first]}, headers=h
    )
    assert published.status_code == 200
    assert published.json == {"run_id": str(s.run.id), "newly_published": 1, "published": [first]}
    everything = client.post(f"{base}/runs/{s.run.id}/publish", json={}, headers=h)
    assert everything.status_code == 200
    assert everything.json["newly_published"] == 1
    again = client.post(f"{base}/runs/{s.run.id}/publish", headers=h)
    assert again.status_code == 200
    assert again.json["newly_published"] == 0
    assert len(again.json["published"]) == 2

    by_status = client.get(f"{base}/matches?status=published&limit=1", headers=h)
    assert by_status.status_code == 200
    assert len(by_status.json["items"]) == 1
    nxt = client.get(
        f"{base}/matches?status=published&limit=1&cursor={by_status.json['next_cursor']}",
        headers=h,
    )
    assert len(nxt.json["items"]) == 1
    assert nxt.json["next_cursor"] is None

    not_editable = client.patch(f"/v1/matches/{first}", json={"status": "rejected"}, headers=h)
    assert not_editable.status_code == 409

    ended = client.post(f"/v1/matches/{first}/end", json={"reason": "finished early"}, headers=h)
    assert ended.status_code == 200
    assert ended.json["status"] == "ended"
    assert ended.json["ended_by"] == str(tenant.owner_id)
    assert client.get(f"/v1/matches/{first}", headers=h).json["ended_reason"] == "finished early"

    actions = [
        e["action"] for e in client.get("/v1/audit?order=desc&limit=4", headers=h).json["items"]
    ]
    assert actions == ["match.ended", "match.published", "match.published", "match.edited"]
    assert client.get("/v1/audit/verify", headers=h).json["valid"] is True


def test_violations_are_422_naming_the_rule(app: Any, client: Any, tenant: Tenant) -> None:
    s = _scenario(app, tenant, pairs=2, spare_mentors=0)
    with app.extensions["mentormatch"].session_factory() as session:
        french = make_participant(
            session, session.merge(s.program), "mentor", "fr", languages=["fr"]
        )
        session.commit()
    h = tenant.headers
    match = f"/v1/matches/{s.matches[0].id}"

    rule = client.patch(match, json={"mentor_id": str(french.id)}, headers=h)
    assert rule.status_code == 422
    assert rule.content_type == "application/problem+json"
    assert "required criterion 'shared_language'" in rule.json["errors"]["mentor_id"][0]

    full = client.patch(match, json={"mentor_id": str(s.mentors[1].id)}, headers=h)
    assert full.status_code == 422
    assert "capacity" in full.json["errors"]["mentor_id"][0]

    for body in ({}, {"status": "published"}, {"status": "rejected", "mentor_id": str(french.id)}):
        bad = client.patch(match, json=body, headers=h)
        assert bad.status_code == 422, body
    assert client.patch(match, json={"color": "red"}, headers=h).json["errors"] == {
        "color": ["Unknown field."]
    }
    unknown = client.post(
        f"/v1/programs/{s.program.id}/runs/{s.run.id}/publish",
        json={"match_ids": [str(uuid.uuid4())]},
        headers=h,
    )
    assert unknown.status_code == 422
    assert "match_ids" in unknown.json["errors"]
    end_early = client.post(f"{match}/end", json={"reason": "x"}, headers=h)
    assert end_early.status_code == 409
    assert client.post(f"{match}/end", json={}, headers=h).status_code == 422
    assert (
        client.get(f"/v1/programs/{s.program.id}/matches?status=bogus", headers=h).status_code
        == 422
    )


def test_dry_run_cannot_be_published(app: Any, client: Any, tenant: Tenant) -> None:
    s = _scenario(app, tenant, dry_run=True)
    response = client.post(
        f"/v1/programs/{s.program.id}/runs/{s.run.id}/publish", json={}, headers=tenant.headers
    )
    assert response.status_code == 409
    assert "dry run" in response.json["detail"]


def test_recommendations_route(app: Any, client: Any, tenant: Tenant) -> None:
    s = _scenario(app, tenant, pairs=1, spare_mentors=2)
    url = f"/v1/programs/{s.program.id}/participants/{s.mentees[0].id}/recommendations"
    response = client.get(f"{url}?limit=2", headers=tenant.headers)
    assert response.status_code == 200, response.json
    assert response.json["role"] == "mentee"
    assert len(response.json["items"]) == 2
    assert response.json["note"] is None
    first = response.json["items"][0]
    assert set(first) == {"partner", "score", "breakdown", "reasons"}
    assert client.get(f"{url}?limit=101", headers=tenant.headers).status_code == 422


def test_other_tenant_gets_404(app: Any, client: Any, tenant: Tenant, other_tenant: Tenant) -> None:
    s = _scenario(app, tenant)
    h = other_tenant.headers
    match = f"/v1/matches/{s.matches[0].id}"
    assert client.get(match, headers=h).status_code == 404
    assert client.patch(match, json={"status": "rejected"}, headers=h).status_code == 404
    publish = f"/v1/programs/{s.program.id}/runs/{s.run.id}/publish"
    assert client.post(publish, json={}, headers=h).status_code == 404
    assert client.get(match, headers=tenant.headers).json["status"] == "proposed"


def test_edit_version_must_be_a_json_integer(app: Any, client: Any, tenant: Tenant) -> None:
    s = _scenario(app, tenant, pairs=1)
    match = f"/v1/matches/{s.matches[0].id}"
    for version in ("1", 1.5, True):
        body = {"status": "rejected", "version": version}
        response = client.patch(match, json=body, headers=tenant.headers)
        assert response.status_code == 422, (version, response.json)
        assert "version" in response.json["errors"]
    assert client.get(match, headers=tenant.headers).json["status"] == "proposed"


def test_a_rejected_pair_comes_back_only_with_allow_previous_pair(
    app: Any, client: Any, tenant: Tenant
) -> None:
    s = _scenario(app, tenant, pairs=1, spare_mentors=1, unmatched=0)
    h = tenant.headers
    first = f"/v1/matches/{s.matches[0].id}"
    assert client.patch(first, json={"status": "rejected"}, headers=h).status_code == 200
    with app.extensions["mentormatch"].session_factory() as session:
        run2 = make_run(session, s.actor, session.merge(s.program))
        again = make_match(session, run2, session.merge(s.mentees[0]), session.merge(s.mentors[1]))
        session.commit()
        again_id = again.id
    back = {"mentor_external_id": "m0"}
    refused = client.patch(f"/v1/matches/{again_id}", json=back, headers=h)
    assert refused.status_code == 422
    assert "rejected before" in refused.json["errors"]["mentor_external_id"][0]
    typo = client.patch(
        f"/v1/matches/{again_id}", json={**back, "allow_previous_pair": "yes"}, headers=h
    )
    assert typo.status_code == 422
    assert "allow_previous_pair" in typo.json["errors"]
    allowed = client.patch(
        f"/v1/matches/{again_id}", json={**back, "allow_previous_pair": True}, headers=h
    )
    assert allowed.status_code == 200
    assert allowed.json["mentor"]["external_id"] == "m0"
    (event,) = client.get("/v1/audit?action=match.edited", headers=h).json["items"]
    assert event["details"]["overrode_previous_pair"] == "rejected"

"""ETag on single-resource GETs; If-Match on their PATCH and DELETE (412 on a stale one);
a program config PATCH without If-Match is 428 (api/conditional.py)."""

from __future__ import annotations

import re
from typing import Any

from tests.factories import RUN_CONFIG, Tenant, if_match


def _program(client: Any, tenant: Tenant) -> str:
    created = client.post(
        "/v1/programs", json={"name": "P", "config": RUN_CONFIG}, headers=tenant.headers
    )
    assert created.status_code == 201, created.json
    return str(created.json["id"])


def test_program_etag_if_none_match_if_match_and_428(client: Any, tenant: Tenant) -> None:
    url = f"/v1/programs/{_program(client, tenant)}"
    first = client.get(url, headers=tenant.headers)
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)  # strong, quoted
    assert client.get(url, headers=tenant.headers).headers["ETag"] == etag  # stable
    unchanged = client.get(url, headers={**tenant.headers, "If-None-Match": etag})
    assert unchanged.status_code == 304

    config = {**RUN_CONFIG, "min_score": 0.3}
    missing = client.patch(url, json={"config": config}, headers=tenant.headers)
    assert missing.status_code == 428
    assert missing.content_type == "application/problem+json"
    renamed = client.patch(url, json={"name": "Q"}, headers=tenant.headers)  # no config: ok
    assert renamed.status_code == 200
    assert renamed.headers["ETag"] != etag
    assert renamed.headers["ETag"] == client.get(url, headers=tenant.headers).headers["ETag"]

    stale = client.patch(url, json={"config": config}, headers={**tenant.headers, "If-Match": etag})
    assert stale.status_code == 412
    assert stale.content_type == "application/problem+json"
    assert client.get(url, headers=tenant.headers).json["config_version"] == 1
    fresh = client.patch(
        url, json={"config": config}, headers=if_match(client, url, tenant.headers)
    )
    assert fresh.status_code == 200, fresh.json
    assert fresh.json["config_version"] == 2
    star = client.patch(url, json={"config": config}, headers={**tenant.headers, "If-Match": "*"})
    assert star.status_code == 200  # any current version

    stale_delete = client.delete(url, headers={**tenant.headers, "If-Match": etag})
    assert stale_delete.status_code == 412
    deleted = client.delete(url, headers=if_match(client, url, tenant.headers))
    assert deleted.status_code == 204


def test_a_get_answers_the_conditions_it_is_sent(client: Any, tenant: Tenant) -> None:
    """If-Match on a GET: 412 when stale, the resource when current; no condition, or
    one the resource cannot answer (If-Modified-Since: no Last-Modified), the resource."""
    url = f"/v1/programs/{_program(client, tenant)}"
    etag = client.get(url, headers=tenant.headers).headers["ETag"]
    stale = client.get(url, headers={**tenant.headers, "If-Match": '"0123"'})
    assert stale.status_code == 412
    current = client.get(url, headers={**tenant.headers, "If-Match": etag})
    assert (current.status_code, current.headers["ETag"]) == (200, etag)
    since = {"If-Modified-Since": "Thu, 01 Jan 2026 00:00:00 GMT"}
    assert client.get(url, headers={**tenant.headers, **since}).status_code == 200
    plain = client.get(url, headers=tenant.headers)
    assert (plain.status_code, plain.headers["ETag"]) == (200, etag)


def test_participant_etag_and_if_match(client: Any, tenant: Tenant) -> None:
    pid = _program(client, tenant)
    created = client.post(
        f"/v1/programs/{pid}/participants",
        json={"external_id": "m1", "role": "mentor", "name": "Ann", "capacity": 1},
        headers=tenant.headers,
    )
    url = f"/v1/programs/{pid}/participants/{created.json['id']}"
    etag = client.get(url, headers=tenant.headers).headers["ETag"]
    matched = client.patch(url, json={"capacity": 2}, headers={**tenant.headers, "If-Match": etag})
    assert matched.status_code == 200
    stale = client.patch(url, json={"capacity": 3}, headers={**tenant.headers, "If-Match": etag})
    assert stale.status_code == 412
    assert client.get(url, headers=tenant.headers).json["capacity"] == 2
    assert client.patch(url, json={"capacity": 3}, headers=tenant.headers).status_code == 200
    assert client.delete(url, headers={**tenant.headers, "If-Match": etag}).status_code == 412


def test_run_and_match_etags_and_the_match_version_still_works(
    app: Any, client: Any, tenant: Tenant
) -> None:
    from tests.api.test_openapi_fuzz import _real_ids

    app.extensions["mentormatch"].jobs.huey.immediate = True
    real = _real_ids(client, tenant)
    run_url = f"/v1/programs/{real['program_id']}/runs/{real['run_id']}"
    run_etag = client.get(run_url, headers=tenant.headers).headers["ETag"]
    assert (
        client.get(run_url, headers={**tenant.headers, "If-None-Match": run_etag}).status_code
        == 304
    )

    url = f"/v1/matches/{real['match_id']}"
    match = client.get(url, headers=tenant.headers)
    etag = match.headers["ETag"]
    wrong = client.patch(
        url, json={"status": "rejected"}, headers={**tenant.headers, "If-Match": '"other"'}
    )
    assert wrong.status_code == 412
    old_version = client.patch(
        url,
        json={"status": "rejected", "version": match.json["version"] + 5},
        headers=tenant.headers,
    )
    assert old_version.status_code == 409  # the body version, checked by the service
    rejected = client.patch(
        url, json={"status": "rejected"}, headers={**tenant.headers, "If-Match": etag}
    )
    assert rejected.status_code == 200, rejected.json
    assert rejected.headers["ETag"] != etag


def test_another_organizations_resource_is_404_before_any_precondition(
    client: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    url = f"/v1/programs/{_program(client, tenant)}"
    config = {**RUN_CONFIG, "min_score": 0.3}
    for headers in (other_tenant.headers, {**other_tenant.headers, "If-Match": '"x"'}):
        assert client.patch(url, json={"config": config}, headers=headers).status_code == 404

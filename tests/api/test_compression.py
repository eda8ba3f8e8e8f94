"""Large JSON and CSV answers are gzip-compressed when the client asks; small ones not."""

from __future__ import annotations

import gzip
import json
from typing import Any

from api import compression
from api.services.context import Actor
from tests.factories import Scenario, Tenant, proposals

GZIP = {"Accept-Encoding": "gzip"}


def _scenario(app: Any, tenant: Tenant, pairs: int) -> Scenario:
    actor = Actor(tenant.organization_id, tenant.owner_id, "owner")
    with app.extensions["mentormatch"].session_factory() as s:
        return proposals(s, actor, pairs=pairs)


def test_a_large_proposal_page_is_gzipped_when_asked_and_identical_after(
    app: Any, client: Any, tenant: Tenant
) -> None:
    s = _scenario(app, tenant, pairs=20)
    url = f"/v1/programs/{s.program.id}/runs/{s.run.id}/matches"
    plain = client.get(url, headers=tenant.headers)
    assert "Content-Encoding" not in plain.headers  # not asked
    assert len(plain.get_data()) > compression.MIN_SIZE
    packed = client.get(url, headers={**tenant.headers, **GZIP})
    assert packed.status_code == 200
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    body = gzip.decompress(packed.get_data())
    assert len(packed.get_data()) < len(body)
    assert json.loads(body) == plain.json
    refused = client.get(url, headers={**tenant.headers, "Accept-Encoding": "gzip;q=0, br"})
    assert "Content-Encoding" not in refused.headers  # gzip only, and only if accepted


def test_a_small_answer_is_not_compressed(app: Any, client: Any, tenant: Tenant) -> None:
    s = _scenario(app, tenant, pairs=1)
    answer = client.get(
        f"/v1/programs/{s.program.id}/runs/{s.run.id}", headers={**tenant.headers, **GZIP}
    )
    assert answer.status_code == 200
    assert len(answer.get_data()) < compression.MIN_SIZE
    assert "Content-Encoding" not in answer.headers
    assert answer.json["id"] == str(s.run.id)


def test_the_csv_download_is_gzipped(app: Any, client: Any, tenant: Tenant) -> None:
    s = _scenario(app, tenant, pairs=20)
    url = f"/v1/programs/{s.program.id}/runs/{s.run.id}/matches?format=csv"
    plain = client.get(url, headers=tenant.headers).get_data()
    packed = client.get(url, headers={**tenant.headers, **GZIP})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.get_data()) == plain


def test_if_match_takes_the_etag_of_a_gzipped_answer(app: Any, client: Any, tenant: Tenant) -> None:
    s = _scenario(app, tenant, pairs=1)
    url = f"/v1/matches/{s.matches[0].id}"
    read = client.get(url, headers={**tenant.headers, **GZIP})
    etag = read.headers["ETag"]
    if read.headers.get("Content-Encoding") == "gzip":
        assert etag.endswith(':gzip"')
    changed = client.patch(
        url, json={"status": "rejected"}, headers={**tenant.headers, "If-Match": etag}
    )
    assert changed.status_code == 200, changed.get_data(as_text=True)

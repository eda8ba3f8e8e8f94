"""Refused API keys count per client address (api/limits.py, ``rate_limit_refused_keys``):
a client that keeps presenting keys the lookup does not accept is answered 429 with
``Retry-After``, from memory, without a database lookup; the keys this process verified
lately, and other addresses, pass as before; malformed keys cost nothing and count
nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from tests.api.test_rate_limits import _assert_limited
from tests.factories import make_tenant

SPRAYER = {"REMOTE_ADDR": "203.0.113.7"}
ELSEWHERE = {"REMOTE_ADDR": "198.51.100.2"}


@pytest.fixture
def app(db_url: str) -> Iterator[Any]:
    from api.app import create_app

    app = create_app(
        {
            "DATABASE_URL": db_url,
            "TESTING": True,
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_REFUSED_KEYS": "3/minute",
        }
    )
    yield app
    app.extensions["mentormatch"].engine.dispose()


def _statements(app: Any) -> list[str]:
    seen: list[str] = []
    engine = app.extensions["mentormatch"].engine
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def _wrong(key: str) -> str:
    """The same key id with another secret: well-formed, looked up, refused."""
    return key[:-1] + ("A" if key[-1] != "A" else "B")


def test_an_address_presenting_refused_keys_waits_without_lookups(app: Any) -> None:
    client = app.test_client()
    acme = make_tenant(app, "Acme", "owner@acme.example")
    known = {"Authorization": f"Bearer {acme.key}"}
    assert client.get("/v1/programs", headers=known, environ_base=SPRAYER).status_code == 200
    sprayed = {"Authorization": f"Bearer {_wrong(acme.key)}"}
    for _ in range(3):
        refused = client.get("/v1/programs", headers=sprayed, environ_base=SPRAYER)
        assert refused.status_code == 401, refused.json
    over = client.get("/v1/programs", headers=sprayed, environ_base=SPRAYER)
    _assert_limited(over)
    assert "3 per 1 minute refused API keys for this client address" in over.json["detail"]

    statements = _statements(app)
    _assert_limited(client.get("/v1/programs", headers=sprayed, environ_base=SPRAYER))
    assert statements == []  # refused from memory: no lookup
    # A key this process verified lately still works from that address...
    assert client.get("/v1/programs", headers=known, environ_base=SPRAYER).status_code == 200
    # ...and the sprayed key from another address is looked up and refused as before.
    assert client.get("/v1/programs", headers=sprayed, environ_base=ELSEWHERE).status_code == 401


def test_a_key_not_verified_lately_waits_too_from_that_address(app: Any) -> None:
    client = app.test_client()
    acme = make_tenant(app, "Acme", "owner@acme.example")
    sprayed = {"Authorization": f"Bearer {_wrong(acme.key)}"}
    for _ in range(4):
        client.get("/v1/programs", headers=sprayed, environ_base=SPRAYER)
    fresh = {"Authorization": f"Bearer {acme.key}"}  # never used in this process
    _assert_limited(client.get("/v1/programs", headers=fresh, environ_base=SPRAYER))
    assert client.get("/v1/programs", headers=fresh, environ_base=ELSEWHERE).status_code == 200


def test_malformed_and_missing_keys_count_nothing(app: Any) -> None:
    client = app.test_client()
    for header in ({"Authorization": "Bearer nonsense"}, {}):
        for _ in range(5):
            answer = client.get("/v1/programs", headers=header, environ_base=SPRAYER)
            assert answer.status_code == 401

"""A dashboard on another origin: preflights answered without a key, for the configured
origins only (MENTORMATCH_CORS_ORIGINS), with the headers it needs exposed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.factories import Tenant, make_tenant

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # no database logic

ALLOWED = "https://dash.example.org"
REFUSED = "https://evil.example.com"


@pytest.fixture
def cors_app(db_url: str) -> Iterator[Any]:
    from api.app import create_app

    application = create_app(
        {
            "DATABASE_URL": db_url,
            "TESTING": True,
            "LOG_LEVEL": "WARNING",
            "CORS_ORIGINS": f"{ALLOWED}, http://localhost:3000",
        }
    )
    yield application
    application.extensions["mentormatch"].engine.dispose()


def _preflight(client: Any, origin: str) -> Any:
    return client.options(
        "/v1/programs",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_a_preflight_from_an_allowed_origin_is_answered_without_a_key(cors_app: Any) -> None:
    answer = _preflight(cors_app.test_client(), ALLOWED)
    assert answer.status_code == 200  # not 401: browsers send no key in a preflight
    assert answer.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "Access-Control-Allow-Credentials" not in answer.headers


def test_an_actual_request_from_an_allowed_origin_exposes_the_headers(cors_app: Any) -> None:
    tenant = make_tenant(cors_app, "Acme", "owner@acme.example")
    client = cors_app.test_client()
    headers = {**tenant.headers, "Origin": ALLOWED}
    answer = client.get("/v1/programs", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == ALLOWED
    exposed = {h.strip() for h in answer.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Location", "ETag", "X-Request-Id", "Retry-After"} <= exposed
    assert "Origin" in answer.headers["Vary"]
    # An error is readable too, and still needs the key.
    refused = client.get("/v1/programs", headers={"Origin": ALLOWED})
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_a_refused_origin_gets_no_cors_headers(cors_app: Any) -> None:
    client = cors_app.test_client()
    preflight = _preflight(client, REFUSED)
    assert "Access-Control-Allow-Origin" not in preflight.headers
    tenant = make_tenant(cors_app, "Acme", "owner@acme.example")
    actual = client.get("/v1/programs", headers={**tenant.headers, "Origin": REFUSED})
    assert actual.status_code == 200  # the server answers; the browser withholds it
    assert "Access-Control-Allow-Origin" not in actual.headers


def test_without_configured_origins_no_origin_is_allowed(client: Any, tenant: Tenant) -> None:
    preflight = _preflight(client, ALLOWED)
    assert "Access-Control-Allow-Origin" not in preflight.headers
    actual = client.get("/v1/programs", headers={**tenant.headers, "Origin": ALLOWED})
    assert actual.status_code == 200
    assert not [k for k, _ in actual.headers.items() if k.lower().startswith("access-control-")]


def test_a_preflight_reads_nothing_and_an_options_request_without_cors_needs_no_key(
    client: Any,
) -> None:
    answer = client.options("/v1/programs")
    assert answer.status_code == 200
    assert {"GET", "POST"} <= set(answer.headers["Allow"].split(", "))
    assert answer.data == b""

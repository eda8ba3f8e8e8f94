"""Cross-cutting HTTP behaviour: problem+json everywhere, request ids, structured logs, docs."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from api.logs import JsonFormatter
from tests.factories import Tenant


def test_unknown_route_and_method_are_problem_json(client: Any, tenant: Tenant) -> None:
    missing = client.get("/v1/nothing-here", headers=tenant.headers)
    assert missing.status_code == 404
    assert missing.content_type == "application/problem+json"
    assert set(missing.json) >= {"type", "title", "status", "detail"}

    wrong_method = client.put("/v1/health")
    assert wrong_method.status_code == 405
    assert wrong_method.content_type == "application/problem+json"


def test_request_id_is_echoed_or_made(client: Any) -> None:
    given = client.get("/v1/health", headers={"X-Request-Id": "abc123"})
    assert given.headers["X-Request-Id"] == "abc123"
    made = client.get("/v1/health")
    assert len(made.headers["X-Request-Id"]) == 32


def test_openapi_and_docs_are_served_without_a_cdn(client: Any) -> None:
    spec = client.get("/v1/openapi.json")
    assert spec.status_code == 200
    assert spec.json["openapi"].startswith("3.")
    assert "/v1/health" in spec.json["paths"]
    page = client.get("/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/v1/docs/assets/swagger-ui-bundle.js" in html
    assert "//cdn" not in html
    assert "unpkg" not in html
    asset = client.get("/v1/docs/assets/swagger-ui-bundle.js")
    try:
        assert asset.status_code == 200
        assert len(asset.data) > 100_000
    finally:
        asset.close()


#: The documentation itself: the spec, its page and the page's assets.
DOCS_RULES = {"/v1/openapi.json", "/v1/docs", "/v1/docs/assets/<path:filename>"}


def test_every_route_is_documented_with_its_methods(app: Any, client: Any) -> None:
    """Each rule of ``app.url_map`` under /v1 is a path of the spec, with the same methods."""
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule): set(rule.methods or ())
        - {"HEAD", "OPTIONS"}
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/v1/") and rule.rule not in DOCS_RULES
    }
    paths = client.get("/v1/openapi.json").json["paths"]
    documented = {
        path: {method.upper() for method in operations if method != "parameters"}
        for path, operations in paths.items()
    }
    assert documented == routes


def test_unexpected_errors_are_500_problem_without_internals(app: Any, tenant: Tenant) -> None:
    @app.get("/v1/boom")
    def _boom() -> None:
        raise RuntimeError("secret internals")

    response = app.test_client().get("/v1/boom", headers=tenant.headers)
    assert response.status_code == 500
    assert response.content_type == "application/problem+json"
    assert "secret internals" not in response.get_data(as_text=True)


def test_access_log_is_json_with_request_id_and_no_personal_data(
    client: Any, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="mentormatch.access"):
        client.post("/v1/admins", json={"email": "ann@acme.example"}, headers=tenant.headers)
    (record,) = [r for r in caplog.records if r.name == "mentormatch.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["method"] == "POST"
    assert line["path"] == "/v1/admins"
    assert line["status"] == 201
    assert "ann@acme.example" not in json.dumps(line)


NOT_NULL_ADMIN_ID = {
    "sqlite": "IntegrityError: NOT NULL constraint failed: admins.id",
    "postgresql": (
        'IntegrityError: null value in column "id" of relation "admins" violates not-null '
        "constraint"
    ),
}


def test_a_failing_statement_logs_no_personal_data(
    app: Any, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy import text

    from api.db import get_session

    email, name = "secret.person@example.org", "Secret Name"
    statement = text(
        "INSERT INTO admins (id, organization_id, email, role) VALUES (:i, :o, :e, :r)"
    )

    @app.post("/v1/insert-broken")
    def _insert_broken() -> None:
        # An unexpected database error whose parameters (and PostgreSQL's DETAIL of the
        # failing row) hold a name and an email.
        values = {"i": None, "o": None, "e": email, "r": name}
        get_session().execute(statement, values)

    with caplog.at_level(logging.ERROR):
        response = app.test_client().post("/v1/insert-broken", headers=tenant.headers)
    assert response.status_code == 500
    (error,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    line = JsonFormatter().format(error)
    # The error itself is there: its class and the database's primary message.
    dialect = app.extensions["mentormatch"].engine.dialect.name
    assert json.loads(line)["exception"].splitlines()[-1] == NOT_NULL_ADMIN_ID[dialect]
    assert email not in line
    assert name not in line
    assert email not in response.get_data(as_text=True)


def test_redact_removes_email_addresses() -> None:
    from api.logs import redact

    assert redact("mail ann.lee+x@mail.example.co.uk now") == "mail <email> now"
    assert redact("no address @ here") == "no address @ here"

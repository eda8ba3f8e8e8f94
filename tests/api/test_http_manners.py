"""Small HTTP manners on every route: 405 with ``Allow``, 415 for a body of another type.

Each route of ``app.url_map`` is asked with a method it does not serve, and each
documented operation taking a body is sent one of an unsupported media type; the
answers are problem+json naming what is allowed.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.factories import Tenant

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # no data involved
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _concrete(rule: str) -> str:
    """A path of the rule with every parameter filled in (a UUID: ids, versions aside)."""
    return re.sub(
        r"<(?:(\w+):)?(\w+)>",
        lambda m: "1" if m.group(1) == "int" else str(uuid.uuid4()),
        rule,
    )


def test_every_route_answers_405_with_allow_for_a_method_it_does_not_serve(
    app: Any, client: Any, tenant: Tenant
) -> None:
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/") or rule.endpoint.startswith("api-docs"):
            continue
        served = set(rule.methods or ())
        refused = next((m for m in METHODS if m not in served), None)
        if refused is None:
            continue
        response = client.open(_concrete(rule.rule), method=refused, headers=tenant.headers)
        assert response.status_code == 405, (rule.rule, refused, response.status_code)
        assert response.mimetype == "application/problem+json", rule.rule
        assert response.json["status"] == 405
        allowed = {m.strip() for m in response.headers["Allow"].split(",")}
        assert allowed == served, (rule.rule, allowed, served)
        checked += 1
    assert checked >= 20  # the whole API, not a handful


def test_every_operation_taking_a_body_refuses_another_media_type_with_415(
    client: Any, tenant: Tenant
) -> None:
    spec = client.get("/v1/openapi.json").json
    checked = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "requestBody" not in operation:
                continue
            accepted = set(operation["requestBody"]["content"])
            url = re.sub(r"\{\w+\}", lambda _m: str(uuid.uuid4()), path)
            for media_type in ("application/xml", "application/x-www-form-urlencoded"):
                response = client.open(
                    url,
                    method=method.upper(),
                    data="<a/>" if media_type.endswith("xml") else "a=b",
                    headers={**tenant.headers, "Content-Type": media_type},
                )
                key = (method, path, media_type)
                assert response.status_code == 415, (key, response.status_code, response.json)
                assert response.mimetype == "application/problem+json", key
                assert media_type in response.json["detail"], key
                assert all(t in response.json["detail"] for t in accepted), key
            checked += 1
    assert checked >= 10

"""The OpenAPI description tells the truth: valid, named operations, problem+json errors,
headers, and examples that the API accepts (api/openapi.py builds what views share)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from api.openapi import OPERATION_IDS
from models.vocabulary import Objective, RunStatus
from scoring import validate_config
from tests.factories import Tenant

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the spec is static

METHODS = {"get", "put", "post", "patch", "delete"}


def _operations(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


@pytest.fixture
def spec(client: Any) -> dict[str, Any]:
    answer = client.get("/v1/openapi.json")
    assert answer.status_code == 200
    return dict(answer.json)


def test_the_description_is_valid_openapi(spec: dict[str, Any]) -> None:
    validate(spec)  # raises, naming the bad part


def test_every_operation_has_a_stable_unique_camel_case_id(spec: dict[str, Any]) -> None:
    operations = _operations(spec)
    ids = {key: op.get("operationId") for key, op in operations.items()}
    assert [key for key, op_id in ids.items() if op_id is None] == []  # add it to OPERATION_IDS
    assert len(set(ids.values())) == len(ids)
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", op_id) for op_id in ids.values())
    assert set(OPERATION_IDS) == set(operations)  # no stale names in the table
    assert ids["POST /v1/programs"] == "createProgram"
    assert ids["POST /v1/programs/{program_id}/runs"] == "triggerRun"
    assert ids["POST /v1/programs/{program_id}/runs/{run_id}/publish"] == "publishRun"


def test_errors_are_documented_as_problem_json(spec: dict[str, Any]) -> None:
    assert "Error" not in spec["components"]["schemas"]  # flask-smorest's shape is gone
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert {"errors", "active_run_id", "have", "need"} <= set(problem["properties"])
    for key, operation in _operations(spec).items():
        responses = operation["responses"]
        assert "default" not in responses, key
        for status, response in responses.items():
            assert response["headers"]["X-Request-Id"] == {
                "$ref": "#/components/headers/RequestId"
            }, (key, status)
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], (key, status)
        if key == "GET /v1/health":
            assert operation["security"] == []
            assert not any(int(status) >= 400 for status in responses)
            continue
        if key == "GET /v1/ready":  # no key; 503 when not ready, with Retry-After
            assert operation["security"] == []
            assert [status for status in responses if int(status) >= 400] == ["503"]
            assert "Retry-After" in responses["503"]["headers"]
            continue
        assert "Retry-After" in responses["429"]["headers"], key
        assert "Retry-After" in responses["503"]["headers"], key
        assert "401" in responses, key
        assert ("404" in responses) == ("{" in key), key
        if key.split()[0] in {"POST", "PATCH", "DELETE"}:
            assert {"413", "415", "422"} <= set(responses), key


def test_statuses_and_headers_of_particular_operations(spec: dict[str, Any]) -> None:
    operations = _operations(spec)
    trigger = operations["POST /v1/programs/{program_id}/runs"]["responses"]
    for status in ("201", "202"):
        assert "Location" in trigger[status]["headers"]
    assert "409" in trigger
    assert "403" in operations["POST /v1/admins"]["responses"]
    assert "409" in operations["POST /v1/programs/{program_id}/weights/learn"]["responses"]
    export = operations["GET /v1/export"]["responses"]["202"]["headers"]
    assert {"Location", "Retry-After"} <= set(export)
    assert spec["components"]["headers"]["Location"]["required"] is True


def test_response_fields_always_present_are_required_and_vocabularies_are_enums(
    spec: dict[str, Any],
) -> None:
    schemas = spec["components"]["schemas"]
    run = schemas["Run"]
    assert {"id", "status", "progress", "error", "finished_at"} <= set(run["required"])
    assert run["properties"]["status"]["enum"] == list(RunStatus)
    assert run["properties"]["objective"]["enum"] == list(Objective)
    assert set(schemas["Match"]["required"]) >= {"id", "mentee", "mentor", "score", "status"}
    assert schemas["Participant"]["properties"]["role"]["enum"] == ["mentor", "mentee"]
    assert "next_cursor" in schemas["ProgramList"]["required"]


def test_the_program_example_is_a_valid_config_the_api_accepts(
    spec: dict[str, Any], client: Any, tenant: Tenant
) -> None:
    body = spec["paths"]["/v1/programs"]["post"]["requestBody"]["content"]["application/json"]
    example = body["examples"]["program"]["value"]
    validate_config(example["config"])  # raises, naming the bad path
    assert example["config"]["criteria"], "a real config, not additionalProp1"
    created = client.post("/v1/programs", json=example, headers=tenant.headers)
    assert created.status_code == 201, created.json


def test_the_request_examples_pass_their_schemas(
    spec: dict[str, Any], client: Any, tenant: Tenant
) -> None:
    """Each documented example body is accepted as far as its shape goes (no 422, 415)."""
    program = client.post(
        "/v1/programs",
        json=spec["paths"]["/v1/programs"]["post"]["requestBody"]["content"]["application/json"][
            "examples"
        ]["program"]["value"],
        headers=tenant.headers,
    ).json
    ids = {
        "program_id": program["id"],
        "participant_id": "00000000-0000-0000-0000-000000000001",
        "run_id": "00000000-0000-0000-0000-000000000002",
        "match_id": "00000000-0000-0000-0000-000000000003",
    }
    for key, operation in _operations(spec).items():
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        method, path = key.split()
        if not content or "examples" not in content or method == "DELETE":
            continue
        url = path.format(**ids)
        for name, example in content["examples"].items():
            answer = client.open(url, method=method, json=example["value"], headers=tenant.headers)
            assert answer.status_code not in (415, 422), (key, name, answer.json)


def test_publish_is_documented_without_a_required_body(spec: dict[str, Any]) -> None:
    publish = spec["paths"]["/v1/programs/{program_id}/runs/{run_id}/publish"]["post"]
    assert publish["requestBody"]["required"] is False  # publishing all takes no body

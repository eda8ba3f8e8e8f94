"""Property-based fuzzing of every documented operation: no input makes the API fail,
and every answer is the one the description promises.

schemathesis generates requests from the app's own OpenAPI description. Path ids are
pointed at real resources of the caller's organization (a program with participants,
a finished run and its matches), so bodies and queries reach the code behind the
404s. Every answer must be deliberate: a 2xx, or a 4xx in problem+json; never a 5xx.
Each answer must also conform: a documented status, the documented content type, a
body valid against the documented schema, the documented (required) headers.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.services.csv_format import participants_csv
from scoring.synthetic import generate_cohort
from tests.factories import Tenant

#: What schemathesis checks on each answer, beside "no 5xx".
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def _real_ids(client: Any, tenant: Tenant) -> dict[str, str]:
    mentees, mentors, config = generate_cohort(30, 20, seed=3)
    program = client.post(
        "/v1/programs", json={"name": "Fuzz", "config": config}, headers=tenant.headers
    ).json
    keys = [f["key"] for f in config["fields"]]
    for people, role in ((mentees, "mentee"), (mentors, "mentor")):
        uploaded = client.post(
            f"/v1/programs/{program['id']}/participants",
            data=participants_csv(people, role, keys),
            content_type="text/csv",
            headers=tenant.headers,
        )
        assert uploaded.status_code == 200, uploaded.json
    run = client.post(
        f"/v1/programs/{program['id']}/runs?wait=30", json={}, headers=tenant.headers
    ).json
    assert run["status"] == "succeeded", run
    proposals = client.get(
        f"/v1/programs/{program['id']}/runs/{run['id']}/matches", headers=tenant.headers
    ).json
    return {
        "program_id": program["id"],
        "participant_id": proposals["items"][0]["mentee"]["id"],
        "run_id": run["id"],
        "match_id": proposals["items"][0]["id"],
        "admin_id": str(tenant.owner_id),
        "version": "1",
    }


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the fuzzing runs once
def test_no_generated_request_gets_a_server_error(app: Any, client: Any, tenant: Tenant) -> None:
    app.extensions["mentormatch"].jobs.huey.immediate = True  # tasks run inline
    real = _real_ids(client, tenant)
    schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deletions last, so that the other operations meet live resources.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    failures: list[tuple[str, str, int, str]] = []
    nonconforming: dict[tuple[str, str], str] = {}
    statuses: set[int] = set()

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def call(case: Any) -> None:
            for name in case.path_parameters or {}:
                if name in real:
                    case.path_parameters[name] = real[name]
            # The WSGI transport does not decode gzip, as an HTTP client would (api.compression).
            response = case.call(headers={**tenant.headers, "Accept-Encoding": "identity"})
            statuses.add(response.status_code)
            # Key rotation revokes the key it was called with, the fuzzer's own: go on
            # with the new one, or every later operation would answer only 401.
            if case.path == "/v1/admins/me/keys" and response.status_code == 201:
                tenant.key = response.json()["api_key"]
            try:
                case.validate_response(response, checks=CONFORMANCE)
            except Exception as exc:  # collected: one report at the end, no shrinking
                key = (case.method, case.path)
                nonconforming.setdefault(key, f"{response.status_code}: {exc}"[:2000])
            not_ready = (case.path, response.status_code) == ("/v1/ready", 503)  # no worker here
            if response.status_code >= 500 and not not_ready:
                failures.append((case.method, case.path, response.status_code, response.text))
            elif response.status_code >= 400:
                headers = {k.lower(): v for k, v in response.headers.items()}
                content_type = headers.get("content-type")
                if isinstance(content_type, list):
                    content_type = content_type[0]
                assert content_type == "application/problem+json", (case.method, case.path)

        call()
    assert not failures, failures[:5]
    assert not nonconforming, "\n\n".join(f"{k}: {v}" for k, v in nonconforming.items())
    assert {200, 422} <= statuses  # the fuzzing reached real handlers and their validation

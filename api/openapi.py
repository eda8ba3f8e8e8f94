"""What the OpenAPI description says beyond the views' decorators, in one place.

flask-smorest documents each view's schemas; this apispec plugin adds, to every
operation as it is registered, what holds across views, so that the description
stays truthful without repeating it in each one:

* its ``operationId``, from :data:`OPERATION_IDS` (stable names for generated clients);
* the problem+json error answers it can give (:func:`error_statuses`), replacing
  flask-smorest's default ``Error`` shape documented as ``application/json``;
* ``security: []`` on the endpoints :mod:`api.auth` serves without a key;
* the ``X-Request-Id`` header on every answer, ``Location`` and ``Retry-After`` where
  the view sends them (:data:`RESPONSE_HEADERS`, :data:`ERROR_HEADERS`);
* the other media types an answer comes in (:data:`RESPONSE_MEDIA_TYPES`: the CSV
  and xlsx downloads of a run's proposals);
* request body examples (:func:`request_examples`), the program config one taken from
  the synthetic generator so that it stays a valid config;
* query parameters shown as what a query string can carry
  (:func:`_query_parameters_without_null`).
"""

from __future__ import annotations

import copy
import http
import re
from typing import Any

from apispec import APISpec, BasePlugin
from flask_smorest import Api

from api.auth import PUBLIC_ENDPOINTS
from api.schemas.problem import ProblemSchema
from api.services.run_downloads import MEDIA_TYPES, MatchesFormat

PROBLEM = "application/problem+json"

#: ``"METHOD /path"`` -> operationId. Clients generated from the description name
#: their functions after these, so a name never changes once released.
OPERATION_IDS: dict[str, str] = {
    "GET /v1/health": "getHealth",
    "GET /v1/ready": "getReadiness",
    "GET /v1/admins": "listAdmins",
    "POST /v1/admins": "createAdmin",
    "DELETE /v1/admins/{admin_id}": "deleteAdmin",
    "POST /v1/admins/me/keys": "rotateKey",
    "GET /v1/audit": "listAuditEvents",
    "GET /v1/audit/verify": "verifyAuditChain",
    "GET /v1/audit/head": "getAuditHead",
    "GET /v1/programs": "listPrograms",
    "POST /v1/programs": "createProgram",
    "GET /v1/programs/{program_id}": "getProgram",
    "PATCH /v1/programs/{program_id}": "updateProgram",
    "DELETE /v1/programs/{program_id}": "deleteProgram",
    "GET /v1/programs/{program_id}/participants": "listParticipants",
    "POST /v1/programs/{program_id}/participants": "uploadParticipants",
    "GET /v1/programs/{program_id}/participants/{participant_id}": "getParticipant",
    "PATCH /v1/programs/{program_id}/participants/{participant_id}": "updateParticipant",
    "DELETE /v1/programs/{program_id}/participants/{participant_id}": "eraseParticipant",
    "GET /v1/programs/{program_id}/participants/{participant_id}/export": "exportParticipant",
    "GET /v1/programs/{program_id}/participants/{participant_id}/recommendations": (
        "getRecommendations"
    ),
    "GET /v1/programs/{program_id}/runs": "listRuns",
    "POST /v1/programs/{program_id}/runs": "triggerRun",
    "GET /v1/programs/{program_id}/runs/{run_id}": "getRun",
    "POST /v1/programs/{program_id}/runs/{run_id}/cancel": "cancelRun",
    "GET /v1/programs/{program_id}/runs/{run_id}/compare": "compareRuns",
    "GET /v1/programs/{program_id}/runs/{run_id}/matches": "listRunMatches",
    "POST /v1/programs/{program_id}/runs/{run_id}/publish": "publishRun",
    "GET /v1/programs/{program_id}/matches": "listProgramMatches",
    "GET /v1/matches/{match_id}": "getMatch",
    "PATCH /v1/matches/{match_id}": "editMatch",
    "POST /v1/matches/{match_id}/end": "endMatch",
    "GET /v1/matches/{match_id}/outcomes": "listOutcomes",
    "POST /v1/matches/{match_id}/outcomes": "recordOutcome",
    "GET /v1/programs/{program_id}/weights": "listWeights",
    "POST /v1/programs/{program_id}/weights/learn": "learnWeights",
    "POST /v1/programs/{program_id}/weights/{version}/activate": "activateWeights",
    "GET /v1/programs/{program_id}/report": "getProgramReport",
    "DELETE /v1/organization": "deleteOrganization",
    "GET /v1/export": "exportOrganization",
    "GET /v1/export/{job_id}": "downloadExport",
}

#: Operations refused to admins who are not owners (api.services: Forbidden).
OWNER_ONLY = frozenset({"createAdmin", "deleteAdmin", "rotateKey", "deleteOrganization"})

#: Operations whose use case raises a Conflict: a state that forbids the change now.
CONFLICTS = frozenset(
    {
        "createAdmin",  # the email is an admin already
        "deleteAdmin",  # the last owner
        "rotateKey",  # the key was revoked meanwhile
        "uploadParticipants",  # a role change under live matches, a taken external_id
        "updateParticipant",
        "eraseParticipant",
        "updateProgram",  # changed concurrently
        "triggerRun",  # another run is active (active_run_id)
        "cancelRun",  # the run finished already
        "publishRun",  # a dry run, an unfinished run, capacities, closed matches
        "editMatch",  # not proposed, or changed since `version`
        "endMatch",
        "recordOutcome",  # a proposed or rejected match
        "getRecommendations",  # data that cannot be scored
        "learnWeights",  # too few outcomes (have, need)
        "activateWeights",
        "exportOrganization",  # the export job failed
        "downloadExport",
    }
)

#: Extra headers of the success answers that send them, by operationId and status.
RESPONSE_HEADERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("triggerRun", "201"): ("Location",),
    ("triggerRun", "202"): ("Location", "RetryAfter"),
    ("exportOrganization", "202"): ("Location", "RetryAfter"),
    ("downloadExport", "202"): ("Location", "RetryAfter"),
}

#: Headers of error answers, by operationId and status: header name -> component.
ERROR_HEADERS: dict[tuple[str, int], dict[str, str]] = {
    ("triggerRun", 409): {"Retry-After": "RetryAfterActiveRun"},
}

#: Media types a success answer has beside its JSON schema, by operationId and status.
RESPONSE_MEDIA_TYPES: dict[tuple[str, str], dict[str, Any]] = {
    ("listRunMatches", "200"): {
        MEDIA_TYPES[MatchesFormat.CSV]: {
            "schema": {"type": "string"},
            "example": "\ufeffmentee_name,mentee_external_id,mentor_name,mentor_external_id,"
            "score,skills (similarity),reasons,status,match_id\r\n"
            "Bo Chen,u-1,Ann Lee,u-2,0.75,0.75,Both know sql,proposed,"
            "5b0b6c8e-2f5e-4f43-9d7b-6f3f4a3c9e11\r\n"
            "Cy Diaz,u-3,,,,,no_allowed_mentor,unmatched,\r\n",
        },
        MEDIA_TYPES[MatchesFormat.XLSX]: {"schema": {"type": "string", "format": "binary"}},
    },
}

#: GETs answering an ETag (api/conditional.py), and the changes If-Match guards.
ETAG_READS = frozenset({"getProgram", "getParticipant", "getRun", "getMatch"})
GUARDED_CHANGES = frozenset(
    {"updateProgram", "deleteProgram", "updateParticipant", "eraseParticipant", "editMatch"}
)
#: If-Match is required when the change is a program config (else 428).
IF_MATCH_REQUIRED = frozenset({"updateProgram"})

_HEADERS: dict[str, dict[str, Any]] = {
    "RequestId": {
        "description": "The request's id (the X-Request-Id sent, up to 64 characters, "
        "else a new one); logs and problem bodies carry it",
        "required": True,
        "schema": {"type": "string"},
    },
    "Location": {
        "description": "Where to poll the resource being made",
        "required": True,
        "schema": {"type": "string", "format": "uri-reference"},
    },
    "RetryAfter": {
        "description": "Seconds to wait before polling Location",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    },
    "RetryAfterActiveRun": {
        "description": "Seconds until the active run named by active_run_id is likely "
        "to have finished: estimated from its progress (1 to 30), 2 while it is queued",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    },
    "ETag": {
        "description": "The representation's version: send it in If-Match to change the "
        "resource only if nobody changed it since, or If-None-Match to get 304",
        "required": True,
        "schema": {"type": "string"},
    },
    "RetryLater": {
        "description": "Seconds to wait before trying again",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    },
    "WWWAuthenticate": {
        "description": 'Bearer realm="mentormatch"',
        "required": True,
        "schema": {"type": "string"},
    },
}

_ERROR_DESCRIPTIONS = {
    401: "No API key, or one unknown or revoked",
    403: "Only an owner may do this",
    404: "Not found, or of another organization (indistinguishable)",
    409: "The resource's state forbids this now; the problem says why",
    413: "The body is larger than MENTORMATCH_MAX_CONTENT_LENGTH",
    412: "If-Match names no current ETag: the resource changed since; GET it again",
    415: "A body of another media type than the operation takes",
    422: "Invalid input: every bad field in errors",
    428: "A config change without If-Match",
    429: "Over the organization's rate limit (MENTORMATCH_RATE_LIMIT_DEFAULT; each of "
    "recommendations, compare, report and export also MENTORMATCH_RATE_LIMIT_EXPENSIVE): "
    "retry after Retry-After seconds",
    503: "The database or the job queue cannot serve now (unreachable, busy): nothing "
    "is left half-written; retry after Retry-After seconds",
}
_BODY_METHODS = frozenset({"post", "put", "patch", "delete"})


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def error_statuses(
    operation_id: str, operation: dict[str, Any], *, method: str, path: str, public: bool
) -> set[int]:
    """The error statuses an operation can really answer, from what it takes."""
    statuses: set[int] = set()
    parameters = operation.get("parameters", [])
    if not public:
        statuses |= {401, 429, 503}  # api.auth, api.limits, api.faults
    if operation_id in OWNER_ONLY:
        statuses.add(403)
    if "{" in path:
        statuses.add(404)  # also a path id the converter refuses (not a UUID)
    if operation_id in CONFLICTS:
        statuses.add(409)
    if operation_id in GUARDED_CHANGES:
        statuses.add(412)
    if operation_id in IF_MATCH_REQUIRED:
        statuses.add(428)
    if method in _BODY_METHODS:
        statuses |= {413, 415, 422}  # api.body checks any body of these methods
    if parameters or "requestBody" in operation:
        statuses.add(422)
    return statuses


def problem_response(
    status: int, description: str | None = None, extra_headers: dict[str, str] | None = None
) -> dict[str, Any]:
    headers: dict[str, Any] = {"X-Request-Id": _ref("headers", "RequestId")}
    if status == 401:
        headers["WWW-Authenticate"] = _ref("headers", "WWWAuthenticate")
    if status in (429, 503):
        headers["Retry-After"] = _ref("headers", "RetryLater")
    for name, component in (extra_headers or {}).items():
        headers[name] = _ref("headers", component)
    return {
        "description": description
        or _ERROR_DESCRIPTIONS.get(status, http.HTTPStatus(status).phrase),
        "headers": headers,
        "content": {PROBLEM: {"schema": _ref("schemas", "Problem")}},
    }


def request_examples() -> dict[str, dict[str, Any]]:
    """Request body examples by operationId (``{name: {"summary", "value"}}``)."""
    # Imported here: building the example runs the generator, never at import time.
    from scoring.synthetic import generate_cohort

    _, _, config = generate_cohort(2, 1, seed=1)
    return {
        "createProgram": {
            "program": {
                "summary": "A program with the generator's config (DESIGN section 4)",
                "value": {
                    "name": "Engineering mentoring 2025",
                    "description": "Spring cohort",
                    "config": config,
                },
            }
        },
        "updateProgram": {
            "rename": {"summary": "Rename", "value": {"name": "Engineering mentoring, spring"}},
            "config": {
                "summary": "A new config version, clearing values that no longer fit",
                "value": {"config": {**config, "min_score": 0.3}, "on_conflict": "clear"},
            },
        },
        "createAdmin": {
            "admin": {"summary": "An admin", "value": {"email": "ann.lee@example.org"}}
        },
        "uploadParticipants": {
            "one": {
                "summary": "One participant",
                "value": {
                    "external_id": "u-1042",
                    "role": "mentor",
                    "name": "Ann Lee",
                    "email": "ann.lee@example.org",
                    "position": "Senior",
                    "skills": ["python", "sql"],
                    "capacity": 2,
                    "attributes": {"department": "eng", "languages": ["en", "de"]},
                },
            },
            "bulk": {
                "summary": "A bulk upsert by external_id",
                "value": {
                    "items": [
                        {
                            "external_id": "u-1",
                            "role": "mentee",
                            "name": "Bo Chen",
                            "position": "Associate",
                            "skills": ["sql"],
                            "attributes": {"department": "sales", "languages": ["en"]},
                        },
                        {
                            "external_id": "u-2",
                            "role": "mentor",
                            "name": "Ann Lee",
                            "position": "Manager",
                            "skills": ["sql", "python"],
                            "attributes": {"department": "eng", "languages": ["en", "de"]},
                        },
                    ]
                },
            },
        },
        "updateParticipant": {
            "capacity": {"summary": "A mentor takes one more", "value": {"capacity": 3}}
        },
        "triggerRun": {
            "all": {"summary": "Match everyone", "value": {"scope": "all"}},
            "what_if": {
                "summary": "A what-if on the live cohort, never published",
                "value": {
                    "dry_run": True,
                    "objective": "coverage",
                    "config": {"min_score": 0.4},
                    "pins": [["u-1", "u-2"]],
                },
            },
        },
        "publishRun": {
            "all": {"summary": "Publish every proposal (no body needed)", "value": {}},
            "some": {
                "summary": "Publish some",
                "value": {"match_ids": ["5b0b6c8e-2f5e-4f43-9d7b-6f3f4a3c9e11"]},
            },
        },
        "editMatch": {
            "mentor": {
                "summary": "Another mentor",
                "value": {"mentor_external_id": "u-2", "version": 1},
            },
            "reject": {"summary": "Reject the proposal", "value": {"status": "rejected"}},
        },
        "endMatch": {"end": {"summary": "End", "value": {"reason": "mentee left the company"}}},
        "recordOutcome": {
            "check_in": {
                "summary": "A check-in",
                "value": {
                    "meetings": 4,
                    "messages": 23,
                    "goals_completed": 2,
                    "goals_total": 3,
                    "mentee_rating": 5,
                    "mentor_rating": 4,
                },
            }
        },
        "deleteOrganization": {
            "confirm": {"summary": "The organization's name", "value": {"confirm": "Acme"}}
        },
    }


def _query_parameters_without_null(operation: dict[str, Any]) -> None:
    """Drop ``nullable``, a ``null`` default and ``null`` in an enum from query parameters.

    The schemas' optional filters are ``None`` when absent, which apispec documents as
    nullable; but a query string cannot say null, only leave the parameter out. Left
    in, generated clients make three enum types of one filter (openapi-python-client:
    ``StatusType1 | StatusType2Type1 | StatusType3Type1``).
    """
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema") if parameter.get("in") == "query" else None
        if not isinstance(schema, dict) or not schema.pop("nullable", False):
            continue
        if "default" in schema and schema["default"] is None:
            del schema["default"]
        if "enum" in schema:
            schema["enum"] = [value for value in schema["enum"] if value is not None]


class MentormatchApi(Api):  # type: ignore[misc]
    """flask-smorest's Api documenting our problem body, and no catch-all ``default``
    answer (every status an operation gives is listed, see :func:`error_statuses`)."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = None


def _path_key(method: str, path: str) -> str:
    return f"{method.upper()} {path}"


class DescriptionPlugin(BasePlugin):
    """Adds the cross-cutting parts above to each operation flask-smorest registers."""

    def __init__(self) -> None:
        self.examples: dict[str, dict[str, Any]] = {}

    def init_spec(self, spec: APISpec) -> None:
        super().init_spec(spec)
        self.examples = request_examples()
        spec.components.schema("Problem", schema=ProblemSchema)
        for name, header in _HEADERS.items():
            spec.components.header(name, header)

    def operation_helper(
        self,
        path: str | None = None,
        operations: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        rule = kwargs.get("rule")
        public = rule is not None and rule.endpoint in PUBLIC_ENDPOINTS
        for method, operation in (operations or {}).items():
            operation_id = OPERATION_IDS.get(_path_key(method, path or ""))
            if operation_id is None:
                continue  # tests/api/test_openapi.py names the operation without one
            operation["operationId"] = operation_id
            if public:
                operation["security"] = []
            _query_parameters_without_null(operation)
            self._responses(operation_id, operation, method=method, path=path or "", public=public)
            self._conditional(operation_id, operation)
            examples = self.examples.get(operation_id)
            content = operation.get("requestBody", {}).get("content", {})
            if examples and "application/json" in content:
                content["application/json"]["examples"] = copy.deepcopy(examples)

    @staticmethod
    def _conditional(operation_id: str, operation: dict[str, Any]) -> None:
        parameters = operation.setdefault("parameters", [])
        if operation_id in ETAG_READS:
            parameters.append(
                {
                    "in": "header",
                    "name": "If-None-Match",
                    "required": False,
                    "description": "An ETag of the resource: 304 if it is still current",
                    "schema": {"type": "string"},
                }
            )
            operation["responses"]["304"] = {
                "description": "Not modified: the ETag given is still current",
                "headers": {
                    "ETag": _ref("headers", "ETag"),
                    "X-Request-Id": _ref("headers", "RequestId"),
                },
            }
        if operation_id in GUARDED_CHANGES:
            required = operation_id in IF_MATCH_REQUIRED
            parameters.append(
                {
                    "in": "header",
                    "name": "If-Match",
                    "required": False,
                    "description": "The ETag of its GET: 412 if the resource changed since"
                    + (
                        "; required (428 without) when the body changes the config"
                        if required
                        else ""
                    ),
                    "schema": {"type": "string"},
                }
            )
        if operation_id in ETAG_READS | GUARDED_CHANGES:
            for code, answer in operation["responses"].items():
                if str(code) == "200":
                    answer.setdefault("headers", {})["ETag"] = _ref("headers", "ETag")
        if not parameters:
            del operation["parameters"]

    @staticmethod
    def _responses(
        operation_id: str, operation: dict[str, Any], *, method: str, path: str, public: bool
    ) -> None:
        responses: dict[str, Any] = operation.setdefault("responses", {})
        described: dict[int, str | None] = {}
        for code in list(responses):
            if code == "default" or int(code) >= 400:
                answer = responses.pop(code)
                if code != "default" and isinstance(answer, dict):
                    described[int(code)] = answer.get("description")
        statuses = error_statuses(operation_id, operation, method=method, path=path, public=public)
        for status in sorted(statuses | set(described)):
            responses[str(status)] = problem_response(
                status, described.get(status), ERROR_HEADERS.get((operation_id, status))
            )
        for code, answer in responses.items():
            if int(code) >= 400 or not isinstance(answer, dict):
                continue
            headers = answer.setdefault("headers", {})
            headers["X-Request-Id"] = _ref("headers", "RequestId")
            extra = RESPONSE_MEDIA_TYPES.get((operation_id, str(code)), {})
            answer.setdefault("content", {}).update(copy.deepcopy(extra))
            for name in RESPONSE_HEADERS.get((operation_id, str(code)), ()):
                headers[re.sub(r"(?<=[a-z])(?=[A-Z])", "-", name)] = _ref("headers", name)

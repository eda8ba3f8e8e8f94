"""Organization A's key never reaches organization B's data, on any route.

The test walks every rule of ``app.url_map``. Path parameters are filled by *name*
with B's ids from :data:`PARAMS`; each call with A's key must answer 404, exactly like
a missing id, and B's rows must be byte-for-byte the same afterwards. Routes without
parameters (A's own collections) must not show any of B's ids.

**Adding a route?** If its path has a parameter whose name is not in ``PARAMS``, this
test fails and tells you so: add ``"<name>": lambda b: <B's id>`` to ``PARAMS`` (build
the row in :func:`other_org` if B does not have one yet). If the route needs a body or
a query string to get past its schema, add it to ``BODIES`` / ``QUERIES``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from models import Base, Export, Match, Run, WeightsVersion
from tests.factories import Tenant

# Public routes: no organization data behind them. Listed one by one, on purpose.
PUBLIC_RULES = {
    "/v1/health",
    "/v1/ready",
    "/v1/openapi.json",
    "/v1/docs",
    "/v1/docs/assets/<path:filename>",
    "/static/<path:filename>",
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass
class OtherOrg:
    """Organization B and one row of each kind a route can name."""

    tenant: Tenant
    program_id: uuid.UUID
    mentor_id: uuid.UUID
    mentee_id: uuid.UUID
    admin_id: uuid.UUID
    run_id: uuid.UUID
    match_id: uuid.UUID
    weights_version: int
    job_id: uuid.UUID  # a built organization export waiting for its download


# Path parameter name -> B's value for it. Extend this table when you add a route.
PARAMS: dict[str, Callable[[OtherOrg], object]] = {
    "program_id": lambda b: b.program_id,
    "participant_id": lambda b: b.mentee_id,
    "admin_id": lambda b: b.admin_id,
    "run_id": lambda b: b.run_id,
    "match_id": lambda b: b.match_id,
    "version": lambda b: b.weights_version,
    "job_id": lambda b: b.job_id,
}

# (method, rule) -> a body that passes the route's schema, so that the ownership check
# is what answers. Default: {}.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/programs/<uuid:program_id>/participants"): {
        "external_id": "intruder",
        "role": "mentee",
        "name": "Intruder",
    },
    ("PATCH", "/v1/matches/<uuid:match_id>"): {"status": "rejected"},
    ("POST", "/v1/matches/<uuid:match_id>/end"): {"reason": "intruder"},
    ("POST", "/v1/matches/<uuid:match_id>/outcomes"): {"meetings": 1},
    ("POST", "/v1/programs/<uuid:program_id>/runs"): {"scope": "all"},
}

# (method, rule) of routes that replace the caller's key: the walk goes on with the new one.
ROTATES_KEY = {("POST", "/v1/admins/me/keys")}

# rule -> query string (``{param}`` filled from PARAMS) the route's schema requires.
QUERIES: dict[str, str] = {
    "/v1/programs/<uuid:program_id>/runs/<uuid:run_id>/compare": "?with={run_id}",
}

CONFIG = {
    "fields": [{"key": "department", "type": "category", "values": ["eng", "sales"]}],
    "criteria": [{"name": "skills", "kind": "skill_overlap", "weight": 2}],
}


def _post(client: Any, tenant: Tenant, path: str, body: Any) -> Any:
    response = client.post(path, json=body, headers=tenant.headers)
    assert response.status_code in (200, 201), (path, response.json)
    return response.json


@pytest.fixture
def other_org(app: Any, client: Any, other_tenant: Tenant) -> OtherOrg:
    b = other_tenant
    program = _post(client, b, "/v1/programs", {"name": "B's program", "config": CONFIG})
    pid = program["id"]
    people = _post(
        client,
        b,
        f"/v1/programs/{pid}/participants",
        {
            "items": [
                {"external_id": "bm", "role": "mentor", "name": "B Mentor", "capacity": 1},
                {"external_id": "be", "role": "mentee", "name": "B Mentee"},
            ]
        },
    )
    mentor_id, mentee_id = (uuid.UUID(i) for i in people["ids"])
    admin = _post(client, b, "/v1/admins", {"email": "second@globex.example"})
    # Runs, matches and weights are written as rows: B needs them whatever their API does.
    program_id, org = uuid.UUID(pid), b.organization_id
    with app.extensions["mentormatch"].session_factory() as s:
        run = Run(
            id=uuid.uuid4(),
            organization_id=org,
            program_id=program_id,
            status="succeeded",
            config_version=1,
            triggered_by=b.owner_id,
        )
        s.add(run)
        s.flush()
        match = Match(
            id=uuid.uuid4(),
            organization_id=org,
            program_id=program_id,
            run_id=run.id,
            mentee_id=mentee_id,
            mentor_id=mentor_id,
            score=0.5,
        )
        s.add(match)
        now = datetime.now(UTC)
        job = Export(
            id=uuid.uuid4(),
            organization_id=org,
            requested_by=b.owner_id,
            format="json",
            status="ready",
            content=b"{}",
            expires_at=now + timedelta(hours=1),
        )
        s.add(job)
        s.add(
            WeightsVersion(
                id=uuid.uuid4(),
                organization_id=org,
                program_id=program_id,
                version=1,
                weights={"skills": 1.0},
                source="prior",
                active=True,
            )
        )
        s.commit()
        return OtherOrg(
            b, program_id, mentor_id, mentee_id, uuid.UUID(admin["id"]), run.id, match.id, 1, job.id
        )


def snapshot(session: Session, organization_id: uuid.UUID) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that belongs to the organization, in a stable order."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for table in Base.metadata.sorted_tables:
        column = table.c.id if table.name == "organizations" else table.c.get("organization_id")
        assert column is not None, f"table {table.name} has no organization_id: add tenancy"
        result = session.execute(
            select(table).where(column == organization_id).order_by(table.c.id)
        )
        rows[table.name] = [tuple(r) for r in result]
    return rows


def _fill(rule: Any, b: OtherOrg, own: dict[str, object] | None = None) -> str:
    """The rule's URL with B's ids (``own`` overrides some with A's)."""
    path = rule.rule
    for name in rule.arguments:
        value = (own or {}).get(name, PARAMS[name](b))
        path = path.replace(f"<uuid:{name}>", str(value)).replace(f"<int:{name}>", str(value))
        path = path.replace(f"<{name}>", str(value))
    query = QUERIES.get(rule.rule, "").format(**{n: PARAMS[n](b) for n in PARAMS})
    return path + query


def _spec_path(rule: str) -> str:
    """``/v1/runs/<uuid:run_id>`` as the OpenAPI spec writes it: ``/v1/runs/{run_id}``."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def _documented(client: Any) -> set[tuple[str, str]]:
    """Every (method, path) of the OpenAPI spec: the other list of the API's routes."""
    paths = client.get("/v1/openapi.json").json["paths"]
    return {(m.upper(), path) for path, ops in paths.items() for m in ops if m != "parameters"}


def walk(app: Any, client: Any, tenant: Tenant, b: OtherOrg) -> tuple[list[str], set[Any]]:
    """Call every rule of ``app.url_map`` with A's key and B's ids.

    Returns what went wrong, and the (method, spec path) of each call made.
    """
    b_ids = {
        str(v) for v in (b.program_id, b.mentor_id, b.mentee_id, b.admin_id, b.run_id, b.match_id)
    } | {str(b.tenant.owner_id), str(b.tenant.organization_id), str(b.job_id)}
    failures: list[str] = []
    called: set[tuple[str, str]] = set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.rule in PUBLIC_RULES:
            continue
        missing = sorted(a for a in rule.arguments if a not in PARAMS)
        if missing:
            failures.append(
                f"{rule.rule}: no factory for path parameter(s) {missing}; extend PARAMS in "
                "tests/api/test_tenant_isolation.py with B's id for each"
            )
            continue
        url = _fill(rule, b)
        for method in METHODS:
            if method not in (rule.methods or ()):
                continue
            called.add((method, _spec_path(rule.rule)))
            body = BODIES.get((method, rule.rule), {})
            kwargs = {} if method == "GET" else {"json": body}
            response = client.open(url, method=method, headers=tenant.headers, **kwargs)
            text = response.get_data(as_text=True)
            if (method, rule.rule) in ROTATES_KEY and response.status_code == 201:
                tenant.key = response.json["api_key"]  # the one used is revoked now
            if rule.arguments and response.status_code != 404:
                hint = " (give it a valid body in BODIES)" if response.status_code == 422 else ""
                failures.append(
                    f"{method} {rule.rule}: {response.status_code}, not 404{hint}: {text[:300]}"
                )
            elif response.status_code >= 500:
                failures.append(f"{method} {rule.rule}: {response.status_code}: {text[:300]}")
            # A 404 may echo the id the caller sent; any other of B's ids is a leak.
            leaked = sorted(i for i in b_ids if i in text and i not in url)
            if leaked:
                failures.append(f"{method} {rule.rule}: response shows B's ids {leaked}")
    return failures, called


def test_every_route_hides_other_organizations_data(
    app: Any, client: Any, tenant: Tenant, other_org: OtherOrg
) -> None:
    b = other_org
    factory = app.extensions["mentormatch"].session_factory
    with factory() as s:
        before = snapshot(s, b.tenant.organization_id)
    failures, called = walk(app, client, tenant, b)
    with factory() as s:
        after = snapshot(s, b.tenant.organization_id)
    changed = sorted(t for t in before if before[t] != after[t])
    assert not changed, f"organization B's rows changed in: {changed}"
    assert not failures, "\n".join(failures)
    public = {_spec_path(rule) for rule in PUBLIC_RULES}
    assert called == {(m, path) for m, path in _documented(client) if path not in public}


def test_a_route_with_an_unknown_parameter_fails_the_walk(
    app: Any, client: Any, tenant: Tenant, other_org: OtherOrg
) -> None:
    rule = "/v1/programs/<uuid:program_id>/widgets/<uuid:widget_id>"
    app.url_map.add(Rule(rule, endpoint="widget", methods=["GET"]))
    failures, called = walk(app, client, tenant, other_org)
    assert failures == [
        f"{rule}: no factory for path parameter(s) ['widget_id']; extend PARAMS in "
        "tests/api/test_tenant_isolation.py with B's id for each"
    ]
    assert ("GET", "/v1/programs/{program_id}/widgets/{widget_id}") not in called
    assert ("GET", "/v1/programs/{program_id}") in called  # the rest was still walked


def test_own_program_with_other_organizations_ids_is_404(
    app: Any, client: Any, tenant: Tenant, other_org: OtherOrg
) -> None:
    """A's own program id does not open a door to B's runs, matches or participants."""
    b = other_org
    own_program = _post(client, tenant, "/v1/programs", {"name": "A's program", "config": CONFIG})
    own = {"program_id": own_program["id"]}
    factory = app.extensions["mentormatch"].session_factory
    with factory() as s:
        before = snapshot(s, b.tenant.organization_id)
    failures: list[str] = []
    mixed: set[tuple[str, str]] = set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "program_id" not in rule.arguments or len(rule.arguments) < 2:
            continue
        url = _fill(rule, b, own)
        for method in METHODS:
            if method not in (rule.methods or ()):
                continue
            mixed.add((method, _spec_path(rule.rule)))
            body = BODIES.get((method, rule.rule), {})
            kwargs = {} if method == "GET" else {"json": body}
            response = client.open(url, method=method, headers=tenant.headers, **kwargs)
            if response.status_code != 404:
                failures.append(f"{method} {url}: {response.status_code}")
    with factory() as s:
        assert snapshot(s, b.tenant.organization_id) == before
    assert not failures, "\n".join(failures)
    # Participant GET/PATCH, recommendations, run, compare, proposals, publish: every
    # documented route under a program that names a second id.
    assert mixed == {
        (m, path)
        for m, path in _documented(client)
        if path.startswith("/v1/programs/{program_id}/") and path.count("{") >= 2
    }

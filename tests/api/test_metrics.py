"""``GET /metrics``: request counts and latency by URL rule, 429s, run counts, the token.

One process here (the test client); several gunicorn workers sharing a directory are
tests/e2e/test_metrics_multiprocess.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Response
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.services.observability import RunsCollector
from api.settings import SettingsError
from models import make_engine, make_session_factory
from tests.factories import CONFIG, Tenant, make_org, make_program, make_run

PROGRAM_RULE = "/v1/programs/<uuid:program_id>"


def scrape(client: Any, **headers: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``(sample name, labels) -> value`` of one scrape, parsed by prometheus-client."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_by_url_rule_and_status(client: Any, tenant: Tenant) -> None:
    created = client.post(
        "/v1/programs", json={"name": "Spring", "config": CONFIG}, headers=tenant.headers
    )
    assert created.status_code == 201
    before = scrape(client)
    for program_id in (created.json["id"], created.json["id"], str(uuid.uuid4())):
        client.get(f"/v1/programs/{program_id}", headers=tenant.headers)
    client.get("/v1/no-such-route", headers=tenant.headers)
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    total = "mentormatch_http_requests_total"
    assert delta(total, method="GET", route=PROGRAM_RULE, status="200") == 2
    assert delta(total, method="GET", route=PROGRAM_RULE, status="404") == 1
    assert delta(total, method="GET", route="unmatched", status="404") == 1
    # The raw paths (with their ids) never become labels; the scrape counts no request.
    assert not any(created.json["id"] in str(labels) for _, labels in after)
    assert not any(("route", "/metrics") in labels for _, labels in after)
    latency = "mentormatch_http_request_duration_seconds"
    assert delta(latency + "_count", method="GET", route=PROGRAM_RULE) == 3
    assert delta(latency + "_bucket", method="GET", route=PROGRAM_RULE, le="+Inf") == 3
    assert delta(latency + "_sum", method="GET", route=PROGRAM_RULE) > 0


def test_429_answers_are_counted_as_rate_limited(app: Any, client: Any, tenant: Tenant) -> None:
    @app.get("/v1/test-busy", endpoint="test_busy")
    def _busy() -> Response:
        return Response("slow down", status=429)

    before = scrape(client)
    for _ in range(3):
        assert client.get("/v1/test-busy", headers=tenant.headers).status_code == 429
    assert client.get("/v1/health").status_code == 200
    after = scrape(client)
    name = "mentormatch_http_rate_limited_total"
    assert (
        value(after, name, route="/v1/test-busy") - value(before, name, route="/v1/test-busy") == 3
    )
    assert value(after, name, route="/v1/health") == value(before, name, route="/v1/health") == 0


def test_run_counts_and_queue_depth_come_from_the_database(app: Any, client: Any) -> None:
    factory = app.extensions["mentormatch"].session_factory
    with factory() as session:
        a, b = make_org(session, "A"), make_org(session, "B")
        # One active run per program (a partial unique index): a program per queued run.
        for status in ("queued", "queued", "running", "succeeded", "succeeded", "failed"):
            make_run(session, a, make_program(session, a), status=status)
        make_run(session, b, make_program(session, b), status="queued")
        make_run(session, b, make_program(session, b), status="cancelled")
        session.commit()
    samples = scrape(client)
    assert value(samples, "mentormatch_runs_collector_up") == 1
    runs = {
        status: value(samples, "mentormatch_runs", status=status)
        for status in ("queued", "running", "succeeded", "failed", "cancelled")
    }
    assert runs == {"queued": 3, "running": 1, "succeeded": 2, "failed": 1, "cancelled": 1}
    depth = {
        dict(labels)["organization_id"]: v
        for (name, labels), v in samples.items()
        if name == "mentormatch_queue_depth"
    }
    assert depth == {str(a.organization_id): 2, str(b.organization_id): 1}


def test_a_database_that_does_not_answer_leaves_the_scrape_up() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # nothing listens
    families = list(RunsCollector(make_session_factory(engine)).collect())
    engine.dispose()
    assert [(f.name, [s.value for s in f.samples]) for f in families] == [
        ("mentormatch_runs_collector_up", [0])
    ]


def test_metrics_are_no_api_route(app: Any, client: Any) -> None:
    assert all(rule.rule != "/metrics" for rule in app.url_map.iter_rules())
    assert "/metrics" not in client.get("/v1/openapi.json").json["paths"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_metrics_token_is_asked_for_when_set(db_url: str) -> None:
    token = "t" * 24
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "METRICS_TOKEN": token})
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer " + "x" * 24}, {"Authorization": token}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.content_type == "application/problem+json"
        assert refused.json["status"] == 401
        assert token not in refused.get_data(as_text=True)
    assert "mentormatch_runs" in str(scrape(client, Authorization=f"Bearer {token}"))
    app.extensions["mentormatch"].engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_metrics_dir_without_multiprocess_mode_is_a_settings_error(
    db_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with pytest.raises(SettingsError) as raised:
        create_app({"DATABASE_URL": db_url, "METRICS_DIR": str(tmp_path)})
    assert "MENTORMATCH_METRICS_DIR" in raised.value.errors
    assert "PROMETHEUS_MULTIPROC_DIR" in str(raised.value)


def test_a_made_up_method_is_counted_as_other(client: Any, tenant: Tenant) -> None:
    before = scrape(client)
    for method in ("FOOBAR", "BAZQUX"):
        answer = client.open("/v1/programs", method=method, headers=tenant.headers)
        assert answer.status_code == 405
    after = scrape(client)

    def others(samples: dict[Any, float]) -> float:
        return sum(
            v
            for (name, labels), v in samples.items()
            if name == "mentormatch_http_requests_total"
            and {("method", "OTHER"), ("status", "405")} <= labels
        )

    assert others(after) - others(before) == 2
    # No series per client-chosen string: the labels stay bounded.
    assert not any(("method", "FOOBAR") in labels for _, labels in after)

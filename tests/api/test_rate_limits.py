"""Rate limits (api/limits.py): per organization, 429 problem+json with Retry-After.

The limits are small here so that a few requests reach them; the counts are the
app's own (memory), or a Redis shared by two apps as by two gunicorn workers.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from api.settings import Settings, SettingsError
from tests.conftest import REDIS_ENV
from tests.factories import CONFIG, Tenant, make_tenant


def _app(db_url: str, **settings: str) -> Any:
    from api.app import create_app

    return create_app({"DATABASE_URL": db_url, "TESTING": True, "LOG_LEVEL": "WARNING", **settings})


@pytest.fixture
def limited(db_url: str) -> Iterator[Any]:
    app = _app(db_url, RATE_LIMIT_EXPENSIVE="3/minute", RATE_LIMIT_DEFAULT="1000/minute")
    yield app
    app.extensions["mentormatch"].engine.dispose()


def _program(client: Any, tenant: Tenant) -> str:
    created = client.post(
        "/v1/programs", json={"name": "Spring", "config": CONFIG}, headers=tenant.headers
    )
    assert created.status_code == 201, created.json
    return str(created.json["id"])


def _assert_limited(response: Any) -> int:
    """The 429 problem; returns its Retry-After."""
    assert response.status_code == 429, response.get_data()[:300]
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 429
    assert response.json["title"] == "Too Many Requests"
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 61  # the window is a minute (the wait rounded up)
    return retry_after


def test_an_expensive_read_over_its_limit_is_429_and_other_organizations_are_unaffected(
    limited: Any,
) -> None:
    client = limited.test_client()
    acme = make_tenant(limited, "Acme", "owner@acme.example")
    globex = make_tenant(limited, "Globex", "owner@globex.example")
    acme_report = f"/v1/programs/{_program(client, acme)}/report"
    globex_report = f"/v1/programs/{_program(client, globex)}/report"

    for _ in range(3):
        assert client.get(acme_report, headers=acme.headers).status_code == 200
    over = client.get(acme_report, headers=acme.headers)
    _assert_limited(over)
    assert "3 per 1 minute" in over.json["detail"]

    # Another organization has its own count; the same organization's other routes too.
    assert client.get(globex_report, headers=globex.headers).status_code == 200
    assert client.get("/v1/export", headers=acme.headers).status_code == 200
    assert client.get("/v1/programs", headers=acme.headers).status_code == 200
    _assert_limited(client.get(acme_report, headers=acme.headers))


def test_the_default_limit_counts_every_route_of_an_organization(db_url: str) -> None:
    app = _app(db_url, RATE_LIMIT_DEFAULT="4/minute")
    client = app.test_client()
    acme = make_tenant(app, "Acme", "owner@acme.example")
    globex = make_tenant(app, "Globex", "owner@globex.example")
    program = _program(client, acme)  # 1
    assert client.get("/v1/programs", headers=acme.headers).status_code == 200  # 2
    assert client.get(f"/v1/programs/{program}", headers=acme.headers).status_code == 200  # 3
    assert client.get(f"/v1/programs/{program}/report", headers=acme.headers).status_code == 200
    _assert_limited(client.get("/v1/programs", headers=acme.headers))
    _assert_limited(client.post("/v1/programs", json={"name": "x"}, headers=acme.headers))
    assert client.get("/v1/programs", headers=globex.headers).status_code == 200
    # The probes are never limited.
    for _ in range(6):
        assert client.get("/v1/health").status_code == 200
        assert client.get("/v1/ready").status_code in (200, 503)
    app.extensions["mentormatch"].engine.dispose()


def test_requests_without_a_key_count_against_their_address(db_url: str) -> None:
    app = _app(db_url, RATE_LIMIT_DEFAULT="2/minute")
    client = app.test_client()
    for _ in range(2):
        assert client.get("/v1/openapi.json").status_code == 200
    _assert_limited(client.get("/v1/openapi.json"))
    elsewhere = client.get("/v1/openapi.json", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert elsewhere.status_code == 200
    app.extensions["mentormatch"].engine.dispose()


@pytest.mark.redis
def test_processes_sharing_a_redis_share_the_counts(db_url: str) -> None:
    """Two apps (two gunicorn workers) on one Redis: the limit holds across them."""
    storage = os.environ[REDIS_ENV]
    first = _app(db_url, RATE_LIMIT_EXPENSIVE="2/minute", RATE_LIMIT_STORAGE=storage)
    second = _app(db_url, RATE_LIMIT_EXPENSIVE="2/minute", RATE_LIMIT_STORAGE=storage)
    acme = make_tenant(first, "Acme", "owner@acme.example")
    report = f"/v1/programs/{_program(first.test_client(), acme)}/report"
    assert first.test_client().get(report, headers=acme.headers).status_code == 200
    assert second.test_client().get(report, headers=acme.headers).status_code == 200
    _assert_limited(first.test_client().get(report, headers=acme.headers))
    _assert_limited(second.test_client().get(report, headers=acme.headers))
    for app in (first, second):
        app.extensions["mentormatch"].engine.dispose()


def test_an_unreachable_limits_storage_lets_requests_through(db_url: str) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = _app(
        db_url, RATE_LIMIT_EXPENSIVE="1/minute", RATE_LIMIT_STORAGE=f"redis://127.0.0.1:{port}/0"
    )
    client = app.test_client()
    acme = make_tenant(app, "Acme", "owner@acme.example")
    report = f"/v1/programs/{_program(client, acme)}/report"
    for _ in range(3):
        assert client.get(report, headers=acme.headers).status_code == 200
    app.extensions["mentormatch"].engine.dispose()


def test_limit_settings_are_validated() -> None:
    settings = Settings.from_env(
        {
            "MENTORMATCH_RATE_LIMIT_EXPENSIVE": "10/second;300/hour",
            "MENTORMATCH_REDIS_URL": "redis://queue:6379/0",
        }
    )
    assert settings.rate_limit_expensive == "10/second;300/hour"
    from api.limits import storage_uri

    assert storage_uri(settings) == "redis://queue:6379/0"  # the queue's Redis by default
    assert storage_uri(Settings()) == "memory://"
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(
            {
                "MENTORMATCH_RATE_LIMIT_DEFAULT": "often",
                "MENTORMATCH_RATE_LIMIT_STORAGE": "mysql://x",
                "MENTORMATCH_READY_HEARTBEAT_SECONDS": "-1",
            }
        )
    assert set(raised.value.errors) == {
        "MENTORMATCH_RATE_LIMIT_DEFAULT",
        "MENTORMATCH_RATE_LIMIT_STORAGE",
        "MENTORMATCH_READY_HEARTBEAT_SECONDS",
    }


def test_a_client_told_to_wait_is_refused_again_without_a_database_query(limited: Any) -> None:
    """Over its limit and asking again at once (ignoring Retry-After), an organization
    gets the same 429 from the process's memory: no key lookup, no statement at all."""
    from sqlalchemy import event

    client = limited.test_client()
    acme = make_tenant(limited, "Acme", "owner@acme.example")
    globex = make_tenant(limited, "Globex", "owner@globex.example")
    acme_report = f"/v1/programs/{_program(client, acme)}/report"
    globex_report = f"/v1/programs/{_program(client, globex)}/report"
    for _ in range(3):
        assert client.get(acme_report, headers=acme.headers).status_code == 200
    first_wait = _assert_limited(client.get(acme_report, headers=acme.headers))

    statements: list[str] = []
    engine = limited.extensions["mentormatch"].engine
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    again = client.get(acme_report, headers=acme.headers)
    assert 1 <= _assert_limited(again) <= first_wait
    assert "3 per 1 minute" in again.json["detail"]
    assert statements == []
    # Only that organization's route waits: its other routes and others' are served.
    assert client.get("/v1/programs", headers=acme.headers).status_code == 200
    assert statements  # authenticated as usual
    assert client.get(globex_report, headers=globex.headers).status_code == 200
    # A key the process never verified is looked up (and refused by the limiter).
    other_key = make_tenant(limited, "Initech", "owner@initech.example")
    assert client.get(acme_report, headers=other_key.headers).status_code == 404


def test_the_embargo_ends_with_the_wait_and_is_bounded() -> None:
    from api.limits import Embargo

    embargo = Embargo(max_entries=2)
    embargo.refuse("organization:a", "reports.Report", 100.0, "3 per 1 minute")
    assert embargo.wait("organization:a", "reports.Report", 98.5) == (2, "3 per 1 minute")
    assert embargo.wait("organization:a", "reports.Report", 99.9) == (1, "3 per 1 minute")
    assert embargo.wait("organization:a", "programs.Programs", 99.0) is None
    assert embargo.wait("organization:a", "reports.Report", 100.0) is None  # over
    assert embargo.wait("organization:a", "reports.Report", 99.0) is None  # and forgotten
    for org in "bcd":
        embargo.refuse(f"organization:{org}", "e", 100.0, "x")
    assert embargo.wait("organization:b", "e", 0.0) is None  # the oldest went
    assert embargo.wait("organization:d", "e", 0.0) == (100, "x")


def test_known_keys_forget_after_their_time_and_beyond_their_number() -> None:
    import uuid

    from api.auth import KnownKeys

    org = uuid.uuid4()
    keys = KnownKeys(max_keys=2)
    keys.remember("mm_k1_s", org)
    assert keys.organization("mm_k1_s") == org
    assert keys.organization("mm_k1_t") is None  # another secret is another key
    keys.remember("mm_k2_s", org)
    keys.remember("mm_k3_s", org)
    assert keys.organization("mm_k1_s") is None
    assert keys.organization("mm_k3_s") == org
    expired = KnownKeys(ttl=0.0)
    expired.remember("mm_k1_s", org)
    assert expired.organization("mm_k1_s") is None


def test_a_client_that_asks_again_during_its_wait_has_its_connection_held(db_url: str) -> None:
    """The first 429 only tells the wait; asking again before it ends is refused from
    memory and asks the server to hold the connection (api.held): for at most
    ``refusal_hold_seconds``, never past the wait; 0 asks for nothing."""
    from api.held import HOLD

    for hold in (2.5, 0.0):
        app = _app(db_url, RATE_LIMIT_EXPENSIVE="1/minute", REFUSAL_HOLD_SECONDS=str(hold))
        environs: list[dict[str, Any]] = []  # what the server's worker reads (api.held)
        inner = app.wsgi_app

        def wsgi(
            environ: dict[str, Any], start_response: Any, inner: Any = inner, seen: Any = environs
        ) -> Any:
            seen.append(environ)
            return inner(environ, start_response)

        app.wsgi_app = wsgi
        try:
            client = app.test_client()
            acme = make_tenant(app, "Acme", "owner@acme.example")
            report = f"/v1/programs/{_program(client, acme)}/report"
            assert client.get(report, headers=acme.headers).status_code == 200
            assert HOLD not in environs[-1]
            _assert_limited(client.get(report, headers=acme.headers))  # the limiter: wait
            assert HOLD not in environs[-1]
            wait = _assert_limited(client.get(report, headers=acme.headers))  # asked again
            assert environs[-1].get(HOLD) == (min(hold, wait) if hold else None)
            assert client.get("/v1/programs", headers=acme.headers).status_code == 200
            assert HOLD not in environs[-1]  # not refused: not held
        finally:
            app.extensions["mentormatch"].engine.dispose()


def test_over_the_default_limit_every_route_of_the_organization_waits(db_url: str) -> None:
    """The default limit counts every route together, so its wait is every route's:
    asked again meanwhile on any route, the organization is refused from memory (no
    statement), and asked to hold; another organization is served."""

    app = _app(db_url, RATE_LIMIT_DEFAULT="3/minute")
    environs: list[dict[str, Any]] = []
    inner = app.wsgi_app

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        environs.append(environ)
        return inner(environ, start_response)

    app.wsgi_app = wsgi
    try:
        _every_route_waits(app, environs)
    finally:
        app.extensions["mentormatch"].engine.dispose()


def _every_route_waits(app: Any, environs: list[dict[str, Any]]) -> None:
    from sqlalchemy import event

    from api.held import HOLD

    client = app.test_client()
    acme = make_tenant(app, "Acme", "owner@acme.example")
    globex = make_tenant(app, "Globex", "owner@globex.example")
    program = _program(client, acme)  # 1
    for _ in range(2):  # 2, 3
        assert client.get("/v1/programs", headers=acme.headers).status_code == 200
    told = client.get("/v1/programs", headers=acme.headers)
    _assert_limited(told)
    assert "3 per 1 minute" in told.json["detail"]
    assert HOLD not in environs[-1]  # told to wait: not held yet

    statements: list[str] = []
    engine = app.extensions["mentormatch"].engine
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    for path in (f"/v1/programs/{program}", f"/v1/programs/{program}/report"):
        again = client.get(path, headers=acme.headers)
        _assert_limited(again)
        assert "3 per 1 minute" in again.json["detail"]
        assert environs[-1].get(HOLD) == 1.0  # the default hold, within the wait
    assert statements == []
    assert client.get("/v1/programs", headers=globex.headers).status_code == 200

"""GET /v1/ready: the database reachable and migrated, the queue up, a worker beating."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.services.runs.queue import HEARTBEAT_KEY
from models.migrate import upgrade


def _app(tmp_path: Path, database_url: str, **settings: Any) -> Any:
    from api.app import create_app

    return create_app(
        {
            "DATABASE_URL": database_url,
            "JOBS_PATH": str(tmp_path / "jobs.sqlite3"),  # this test's own queue
            "TESTING": True,
            "LOG_LEVEL": "ERROR",
            **settings,
        }
    )


@pytest.fixture
def ready_app(tmp_path: Path, db_url: str) -> Iterator[Any]:
    app = _app(tmp_path, db_url)
    yield app
    app.extensions["mentormatch"].engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _not_ready(response: Any) -> dict[str, Any]:
    """The 503 problem; returns its checks."""
    assert response.status_code == 503, response.json
    assert response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) >= 1
    checks: dict[str, Any] = response.json["checks"]
    assert set(checks) == {"database", "queue", "worker"}
    return checks


def test_ready_once_a_worker_beats_and_not_before(ready_app: Any) -> None:
    client = ready_app.test_client()
    checks = _not_ready(client.get("/v1/ready"))  # no key needed
    assert checks["database"]["ok"]
    assert checks["queue"]["ok"]
    assert checks["worker"] == {"ok": False, "detail": "no worker heartbeat ever seen"}
    assert "worker" in client.get("/v1/ready").json["detail"]

    ready_app.extensions["mentormatch"].jobs.beat()
    answer = client.get("/v1/ready")
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "ready"
    assert all(check["ok"] for check in answer.json["checks"].values())
    assert answer.json["checks"]["database"]["detail"].startswith("reachable, at revision")
    assert client.get("/v1/health").json == {"status": "ok"}


def test_a_stale_heartbeat_is_not_ready(ready_app: Any) -> None:
    jobs = ready_app.extensions["mentormatch"].jobs
    old = datetime.now(UTC) - timedelta(seconds=61)  # the default allows 60
    jobs.huey.put(HEARTBEAT_KEY, {"at": old.isoformat(), "worker": "gone:1"})
    checks = _not_ready(ready_app.test_client().get("/v1/ready"))
    assert not checks["worker"]["ok"]
    assert "over the 60 s allowed" in checks["worker"]["detail"]


def test_a_database_behind_the_code_is_not_ready_until_upgraded(tmp_path: Path) -> None:
    behind = f"sqlite:///{tmp_path / 'behind.sqlite3'}"
    upgrade(behind, "0010")
    app = _app(tmp_path, behind, JOBS_IMMEDIATE=True)
    client = app.test_client()
    checks = _not_ready(client.get("/v1/ready"))
    assert not checks["database"]["ok"]
    assert "at revision 0010" in checks["database"]["detail"]
    assert "mentormatch db upgrade" in checks["database"]["detail"]
    assert checks["worker"]["ok"]  # immediate jobs need no worker

    upgrade(behind)  # mentormatch db upgrade, the app left running
    assert client.get("/v1/ready").status_code == 200
    app.extensions["mentormatch"].engine.dispose()


def test_an_unreachable_database_or_queue_is_not_ready(tmp_path: Path, db_url: str) -> None:
    down = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/nothing"
    app = _app(tmp_path, down)
    app.extensions["mentormatch"].jobs.beat()
    checks = _not_ready(app.test_client().get("/v1/ready"))
    assert checks["database"] == {"ok": False, "detail": "the database is unreachable"}
    assert checks["queue"]["ok"]
    assert checks["worker"]["ok"]
    app.extensions["mentormatch"].engine.dispose()

    app = _app(tmp_path, db_url, REDIS_URL=f"redis://127.0.0.1:{_free_port()}/0")
    checks = _not_ready(app.test_client().get("/v1/ready"))
    assert checks["database"]["ok"]
    assert checks["queue"] == {"ok": False, "detail": "the job queue (Redis) is unreachable"}
    assert not checks["worker"]["ok"]
    app.extensions["mentormatch"].engine.dispose()

"""An export whose job the queue refuses (Redis down) does not stay ``queued`` forever:
it is failed in the same request, which answers 503 with Retry-After."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from api.faults import RETRY_AFTER_SECONDS
from models import AuditEvent, Export
from models.vocabulary import ExportStatus
from tests.factories import make_tenant


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def queue_down_app(db_url: str) -> Iterator[Any]:
    from api.app import create_app

    app = create_app(
        {
            "DATABASE_URL": db_url,
            "REDIS_URL": f"redis://127.0.0.1:{_free_port()}/0",  # nothing listens there
            "RATE_LIMIT_STORAGE": "memory://",
            "TESTING": True,
            "LOG_LEVEL": "ERROR",
            "EXPORT_JOB_ROWS": 0,  # every export is a job
        }
    )
    yield app
    app.extensions["mentormatch"].engine.dispose()


def test_an_export_the_queue_refuses_is_failed_and_answered_503(queue_down_app: Any) -> None:
    app = queue_down_app
    tenant = make_tenant(app, "Acme", "owner@acme.example")
    response = app.test_client().get("/v1/export", headers=tenant.headers)
    assert response.status_code == 503, response.get_json()
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"] == "the job queue (Redis) is unreachable; retry later"
    with app.extensions["mentormatch"].session_factory() as session:
        exports = session.scalars(select(Export)).all()
        assert [(e.status, e.error) for e in exports] == [
            (ExportStatus.FAILED, "could not queue the export: ConnectionError")
        ]
        assert exports[0].finished_at is not None
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "organization.exported")
        ).one()
        assert event.target_ids == [str(exports[0].id)]  # what was asked stays audited

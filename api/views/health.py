"""Liveness (``/v1/health``) and readiness (``/v1/ready``), both without a key.

Health says the process answers, nothing more: restart it if it does not. Readiness
says whether it can do its work now, for a load balancer to send it traffic or not:

* ``database``: reachable, and migrated to the newest revision this code ships;
* ``queue``: the job queue (Redis, or the SQLite queue file) answers;
* ``worker``: some worker wrote its heartbeat (every 15 s, :mod:`api.services.runs.queue`)
  within ``MENTORMATCH_READY_HEARTBEAT_SECONDS`` (default 60): runs would be executed.
  With ``MENTORMATCH_JOBS_IMMEDIATE`` runs execute in the request; no worker is needed.

All fine: 200 with each check. Otherwise 503 problem+json with ``Retry-After`` and the
same ``checks`` member, each check ``{"ok": bool, "detail": str}``.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from api.faults import unavailable, unavailable_reason
from models.migrate import alembic_config

if TYPE_CHECKING:  # api.app imports this module
    from api.app import State

blp = Blueprint("health", __name__, url_prefix="/v1", description="Liveness and readiness")


class HealthSchema(Schema):
    status = fields.String(required=True)


class CheckSchema(Schema):
    ok = fields.Boolean(required=True)
    detail = fields.String(required=True)


class ReadySchema(Schema):
    status = fields.String(required=True, metadata={"example": "ready"})
    checks = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(CheckSchema),
        required=True,
        metadata={"description": "database, queue, worker: each ok, and why"},
    )


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, str]:
        """Is the service up (no auth)."""
        return {"status": "ok"}


@blp.route("/ready")
class Ready(MethodView):
    @blp.response(200, ReadySchema)
    @blp.alt_response(503, description="Not ready: the checks say which part and why")
    def get(self) -> Any:
        """Can the service do its work now: database migrated, queue and a worker up (no auth)."""
        queue, worker = _queue_and_worker()
        checks = {"database": _database(), "queue": queue, "worker": worker}
        if all(check["ok"] for check in checks.values()):
            return {"status": "ready", "checks": checks}
        failing = ", ".join(name for name, check in checks.items() if not check["ok"])
        response: Response = unavailable(f"not ready: {failing}", checks=checks)
        return response


Check = dict[str, Any]


def _check(ok: bool, detail: str) -> Check:
    return {"ok": ok, "detail": detail}


def _state() -> State:
    state: State = current_app.extensions["mentormatch"]
    return state


@functools.cache
def _head_revisions(database_url: str) -> frozenset[str]:
    """The newest migration revisions this code ships (read once per process)."""
    return frozenset(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())


def _database() -> Check:
    app_state = _state()
    try:
        with app_state.engine.connect() as connection:
            current = frozenset(MigrationContext.configure(connection).get_current_heads())
    except Exception as exc:
        return _check(False, unavailable_reason(exc) or f"unusable: {type(exc).__name__}")
    head = _head_revisions(app_state.settings.database_url)
    if current != head:
        shown = ", ".join(sorted(current)) or "none"
        return _check(
            False, f"at revision {shown}, not {', '.join(sorted(head))}: run mentormatch db upgrade"
        )
    return _check(True, f"reachable, at revision {', '.join(sorted(head))}")


def _queue_and_worker() -> tuple[Check, Check]:
    """The queue's check, and the worker's (its heartbeat is in the queue's storage)."""
    app_state = _state()
    try:
        beat = app_state.jobs.last_heartbeat()
    except Exception as exc:
        reason = unavailable_reason(exc) or f"unusable: {type(exc).__name__}"
        return _check(False, reason), _check(False, "unknown while the queue is down")
    queue = _check(True, f"{app_state.jobs.backend} reachable")
    if app_state.settings.jobs_immediate:
        return queue, _check(True, "none needed: runs execute in the request")
    if beat is None:
        return queue, _check(False, "no worker heartbeat ever seen")
    limit = app_state.settings.ready_heartbeat_seconds
    age = (datetime.now(UTC) - beat).total_seconds()
    ok = age <= limit
    detail = f"last heartbeat {age:.0f} s ago" + ("" if ok else f", over the {limit:g} s allowed")
    return queue, _check(ok, detail)

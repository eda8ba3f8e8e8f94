"""One error shape for the whole API: application/problem+json (RFC 9457)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, json
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from api.services.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceError,
    Unauthorized,
    ValidationFailed,
)

log = logging.getLogger(__name__)

STATUS = {
    NotFound: 404,
    ValidationFailed: 422,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
}


def problem(
    status: int, title: str, detail: str, *, errors: dict[str, Any] | None = None, **extra: Any
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    request_id = g.get("request_id")
    if request_id:
        body["request_id"] = request_id
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="mentormatch"'
    return response


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """webargs nests errors by location then field; clients want {"field.path": [msg]}."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, path))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out[prefix or "_schema"] = list(messages)
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            out.update(_flatten(value, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix or "_schema"] = [str(messages)]
    return out


def validation_errors(data: dict[str, Any]) -> dict[str, list[str]]:
    messages = data.get("messages") or data.get("errors") or {}
    # Drop the webargs location level ("json", "query", ...): the field path is what matters.
    if isinstance(messages, dict) and set(messages) <= {
        "json",
        "query",
        "form",
        "files",
        "headers",
        "view_args",
    }:
        merged: dict[str, list[str]] = {}
        for loc in messages.values():
            merged.update(_flatten(loc))
        return merged
    return _flatten(messages)


def is_unique_violation(exc: IntegrityError) -> bool:
    """SQLSTATE 23505 on PostgreSQL; SQLite's "UNIQUE constraint failed"."""
    if getattr(exc.orig, "sqlstate", None) == "23505":
        return True
    return str(exc.orig).startswith("UNIQUE constraint failed")


def constraint_name(exc: IntegrityError) -> str:
    """The violated constraint: PostgreSQL names it (``uq_participants_program_id_external_id``);
    SQLite says its columns (``UNIQUE constraint failed: participants.external_id``)."""
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if isinstance(name, str) and name:
        return name
    text = str(exc.orig).splitlines()[0] if exc.orig is not None else ""
    return text.split("constraint failed:", 1)[-1].strip()[:200] or "a constraint"


def unexpected(exc: BaseException) -> Response:
    """A bug: logged with its traceback, answered 500 without details."""
    log.error("unhandled error", exc_info=exc)
    return problem(500, "Internal Server Error", "an unexpected error occurred")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError) -> Response:
        status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
        errors = exc.errors if isinstance(exc, ValidationFailed) else None
        return problem(status, exc.title, exc.detail, errors=errors, **exc.extra)

    @app.errorhandler(IntegrityError)
    def _integrity(exc: IntegrityError) -> Response:
        # The use cases turn the violations they expect into named Conflicts (or retry);
        # this is the net for any other: a constraint the database kept, never a 500.
        if not is_unique_violation(exc):  # NOT NULL, CHECK, foreign keys: our bugs
            return unexpected(exc)
        name = constraint_name(exc)
        log.warning("unique violation reached the handler: %s", name)
        return problem(
            409,
            "Conflict",
            f"the change conflicts with stored data ({name}); reload and retry",
            constraint=name,
        )

    @app.errorhandler(StaleDataError)
    def _stale(_exc: StaleDataError) -> Response:
        return problem(409, "Conflict", "the resource was changed concurrently; retry")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        data = getattr(exc, "data", None) or {}
        if status == 422 or "messages" in data:
            errors = validation_errors(data)
            detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
            return problem(422, "Validation failed", detail or "invalid input", errors=errors)
        response = problem(status, exc.name, exc.description or exc.name)
        # Werkzeug's own headers: Allow on a 405 (RFC 9110), Retry-After, WWW-Authenticate.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    app.register_error_handler(Exception, unexpected)

"""Structured JSON logs with a request id. Never log names or emails: ids only."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from sqlalchemy.exc import DBAPIError

# A last line of defence: whatever slips into a message, no email address is logged.
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def redact(text: str) -> str:
    return EMAIL.sub("<email>", text)


def _describe(exc: BaseException) -> str:
    """An exception's message, minus what a database adds about the row's values."""
    if isinstance(exc, DBAPIError):
        # PostgreSQL's DETAIL ("Failing row contains (...)", "Key (...)=(...)") and the
        # statement's parameters carry personal data: keep the class and primary message.
        primary = getattr(getattr(exc.orig, "diag", None), "message_primary", None)
        first_line = str(exc.orig).splitlines()[0] if exc.orig is not None else ""
        return f"{type(exc).__name__}: {primary or first_line}"
    return f"{type(exc).__name__}: {exc}"


class JsonFormatter(logging.Formatter):
    def formatException(self, ei: Any) -> str:
        _, exc, tb = ei
        if exc is None:
            return super().formatException(ei)
        frames = "".join(traceback.format_tb(tb))
        return f"Traceback (most recent call last):\n{frames}{_describe(exc)}"

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = g.get("request_id")
        for key in ("method", "path", "status", "duration_ms", "run_id", "program_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        entry["message"] = redact(str(entry["message"]))
        if "exception" in entry:
            entry["exception"] = redact(str(entry["exception"]))
        return json.dumps(entry)


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)


def init_app(app: Flask) -> None:
    access = logging.getLogger("mentormatch.access")

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if 0 < len(incoming) <= 64 else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        access.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,  # paths carry ids only, never personal data
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - g.get("started", 0)) * 1000, 1),
            },
        )
        return response

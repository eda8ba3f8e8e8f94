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
from gunicorn import glogging
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


#: What every LogRecord has; any other attribute came from a call's ``extra``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


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
        for key, value in record.__dict__.items():  # every `extra`, whatever its name
            if key not in _RECORD_ATTRIBUTES and key not in entry:
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        entry["message"] = redact(str(entry["message"]))
        if "exception" in entry:
            entry["exception"] = redact(str(entry["exception"]))
        return json.dumps(entry, default=str)  # a UUID or datetime extra as its text


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


class GunicornLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's error and access logs as the application's JSON lines.

    The error log (worker boots, timeouts, signals) keeps gunicorn's messages, with
    :class:`JsonFormatter`; the access log, when enabled (``MENTORMATCH_GUNICORN_ACCESS_LOG``),
    writes one ``request`` entry per response with the fields below, the request id
    the application answered with included, so both lines of a request join up.
    """

    def _set_handler(
        self,
        log: logging.Logger,
        output: str | None,
        fmt: logging.Formatter,  # noqa: ARG002 - gunicorn's text format, replaced
        stream: Any = None,
    ) -> None:
        # Every line on stderr, the application's included (gunicorn sends "-" access to stdout).
        super()._set_handler(log, output, JsonFormatter(), sys.stderr if stream else None)

    def access(self, resp: Any, _req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        headers = {name.lower(): value for name, value in resp.headers}
        self.access_log.info(
            "request",
            extra={
                "method": environ.get("REQUEST_METHOD"),
                "path": environ.get("PATH_INFO"),  # ids only; the query string is left out
                "status": resp.status_code,
                "duration_ms": round(request_time.total_seconds() * 1000, 1),
                "bytes": getattr(resp, "sent", None),
                "remote_addr": environ.get("REMOTE_ADDR"),
                "request_id": headers.get("x-request-id"),
            },
        )

"""Logs as JSON lines: gunicorn's own (error and access) like the application's, and
every ``extra`` a call passes kept."""

from __future__ import annotations

import json
import logging
import urllib.request
import uuid
from pathlib import Path

import pytest

from api.logs import JsonFormatter
from tests.e2e.test_metrics_multiprocess import serve


def test_every_extra_field_is_kept_and_redacted() -> None:
    run_id = uuid.uuid4()
    record = logging.LogRecord("mentormatch.test", logging.INFO, __file__, 1, "done", (), None)
    record.__dict__.update(
        {"run_id": run_id, "widgets": 3, "ratio": 0.5, "who": "ann@example.org", "tags": ["a"]}
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["run_id"] == str(run_id)
    assert (line["widgets"], line["ratio"], line["tags"]) == (3, 0.5, ["a"])
    assert line["who"] == "<email>"  # an extra is a place an address could slip in too
    assert {"time", "level", "logger", "message"} <= set(line)
    assert not {"args", "levelno", "msg"} & set(line)  # the record's own attributes


@pytest.mark.e2e
def test_a_served_request_logs_json_lines_from_gunicorn_and_the_app(tmp_path: Path) -> None:
    with serve(tmp_path, web_workers="1", no_worker="1", gunicorn_access_log="1") as server:
        request = urllib.request.Request(
            server.base + "/v1/health", headers={"X-Request-Id": "e2e-log-1"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            body = response.read()
    lines = [json.loads(line) for line in server.stderr.read_text().splitlines() if line]
    by_logger: dict[str, list[dict[str, object]]] = {}
    for line in lines:
        by_logger.setdefault(str(line["logger"]), []).append(line)
    errors = by_logger["gunicorn.error"]
    assert any(str(line["message"]).startswith("Booting worker with pid") for line in errors)
    assert any(line["message"] == "Shutting down: Master" for line in errors)
    assert all({"time", "level", "message"} <= set(line) for line in errors)
    # One request with this id; serve() polled /v1/health before, with ids of their own.
    (access,) = [e for e in by_logger["gunicorn.access"] if e["request_id"] == "e2e-log-1"]
    assert access["path"] == "/v1/health"
    assert (access["method"], access["status"], access["bytes"]) == ("GET", 200, len(body))
    assert access["remote_addr"] == "127.0.0.1"
    assert isinstance(access["duration_ms"], float)
    (app_line,) = [e for e in by_logger["mentormatch.access"] if e["request_id"] == "e2e-log-1"]
    assert (app_line["path"], app_line["status"]) == ("/v1/health", 200)

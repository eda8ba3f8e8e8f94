"""A worker on a machine of its own serves its metrics: ``mentormatch worker`` with
``MENTORMATCH_WORKER_METRICS_PORT`` answers ``/metrics`` with the phases of the runs
it executed, as a thread worker and as process workers (whose runs are observed in
the processes it forks)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_runs import person
from tests.factories import RUN_CONFIG, make_tenant

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def _wait_scrapable(port: int, worker: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 60
    while True:
        try:
            return _scrape(port)
        except OSError:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(log.read_text()[-3000:]) from None
            time.sleep(0.2)


def _phase_count(text: str, phase: str) -> float:
    prefix = f'mentormatch_run_phase_seconds_count{{phase="{phase}"}} '
    counts = [float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)]
    return sum(counts)


@pytest.mark.parametrize(
    ("db_url", "worker_type"),
    [("sqlite", "thread"), ("postgresql", "process")],
    indirect=["db_url"],
)
def test_a_worker_serves_the_phases_of_the_runs_it_executed(
    db_url: str, worker_type: str, tmp_path: Path
) -> None:
    from api.app import create_app

    jobs = tmp_path / "jobs.sqlite3"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MENTORMATCH_", "PROMETHEUS"))}
    env.update(
        MENTORMATCH_DATABASE_URL=db_url,
        MENTORMATCH_JOBS_PATH=str(jobs),
        MENTORMATCH_AUDIT_KEY=os.environ["MENTORMATCH_AUDIT_KEY"],
        MENTORMATCH_WORKER_METRICS_PORT=str(port),
        MENTORMATCH_LOG_LEVEL="INFO",
    )
    app: Any = create_app({"DATABASE_URL": db_url, "JOBS_PATH": str(jobs), "TESTING": True})
    client = app.test_client()
    tenant = make_tenant(app, "Acme", "owner@acme.example")
    created = client.post(
        "/v1/programs", json={"name": "Spring", "config": RUN_CONFIG}, headers=tenant.headers
    )
    pid = created.json["id"]
    items = [person("m1", "mentor", ["python"], 1), person("e1", "mentee", ["python"])]
    uploaded = client.post(
        f"/v1/programs/{pid}/participants", json={"items": items}, headers=tenant.headers
    )
    assert uploaded.status_code in (200, 201), uploaded.json

    log = tmp_path / "worker.log"
    command = [str(BIN / "mentormatch"), "worker", "--worker-type", worker_type]
    with log.open("wb") as out:
        worker = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        before = _wait_scrapable(port, worker, log)
        assert _phase_count(before, "total") == 0
        for expected in (1, 2):
            run = client.post(f"/v1/programs/{pid}/runs", json={}, headers=tenant.headers)
            assert run.status_code == 202, run.json
            url = f"/v1/programs/{pid}/runs/{run.json['id']}"
            deadline = time.monotonic() + 60
            while (state := client.get(url, headers=tenant.headers).json)["status"] in (
                "queued",
                "running",
            ):
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
            assert state["status"] == "succeeded", state
            scraped = _scrape(port)
            assert _phase_count(scraped, "total") == expected, scraped[-2000:]
            assert _phase_count(scraped, "score") == expected
    finally:
        app.extensions["mentormatch"].engine.dispose()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:  # fail on the assertion above, not on this
            worker.kill()
            worker.wait(10)
    if worker_type == "process":  # its private metrics directory went with it
        made = re.search(r"/[^\s\"]*mentormatch-worker-metrics-[^\s\"/]+", log.read_text())
        assert made is not None
        assert not Path(made.group(0)).exists()

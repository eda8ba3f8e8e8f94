"""``/metrics`` of a real ``mentormatch serve`` with two gunicorn workers sharing
``MENTORMATCH_METRICS_DIR``: whichever worker answers a scrape counts every worker's
requests, a restarted worker's included, and the companion worker's run phases."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_server import CONFIG, _command, _free_port, participants_csv

pytestmark = pytest.mark.e2e
PROGRAM_RULE = "/v1/programs/<uuid:program_id>"


@dataclass
class Served:
    """A running ``mentormatch serve``: its URL, an owner's key, its stderr file."""

    base: str
    key: str
    process: subprocess.Popen[bytes]
    stderr: Path

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
        request = urllib.request.Request(
            self.base + path,
            data=None if data is None else data.encode(),
            method=method,
            headers={
                "Authorization": f"Bearer {self.key}",
                "Content-Type": "text/csv" if isinstance(body, str) else "application/json",
                **headers,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read() or b"null")

    def scrape(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        with urllib.request.urlopen(self.base + "/metrics", timeout=30) as response:
            text = response.read().decode()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


@contextmanager
def serve(workdir: Path, **settings: str) -> Iterator[Served]:
    """``mentormatch serve`` on a free loopback port with a fresh SQLite database and
    ``MENTORMATCH_*`` ``settings``; stopped with SIGTERM at the end (exit code 0)."""
    env = {
        **os.environ,
        "MENTORMATCH_DATABASE_URL": f"sqlite:///{workdir / 'served.sqlite3'}",
        **{f"MENTORMATCH_{name.upper()}": value for name, value in settings.items()},
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # serve sets it, from MENTORMATCH_METRICS_DIR
    cmd = _command()

    def run(*args: str) -> str:
        done = subprocess.run(
            [cmd, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("db", "upgrade")
    key = run("create-org", "Metrics Inc", "--owner", "owner@metrics.example").splitlines()[-1]
    port = _free_port()
    stderr = workdir / "serve.stderr"
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [cmd, "serve", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    served = Served(f"http://127.0.0.1:{port}", key.strip(), process, stderr)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, stderr.read_text()[-3000:]
            try:
                with urllib.request.urlopen(served.base + "/v1/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "serve did not answer /v1/health in 60 s"
                time.sleep(0.1)
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=90)  # a loaded machine: the companion stops too
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    assert code == 0, stderr.read_text()[-3000:]


def _worker_pids(metrics_dir: Path) -> set[int]:
    """The processes that counted a request: prometheus-client names a file per pid."""
    return {int(path.stem.rsplit("_", 1)[1]) for path in metrics_dir.glob("counter_*.db")}


def test_two_gunicorn_workers_and_the_companion_worker_share_their_metrics(
    tmp_path: Path,
) -> None:
    metrics_dir = tmp_path / "metrics"
    with serve(tmp_path, web_workers="2", metrics_dir=str(metrics_dir)) as server:
        status, program = server.call("POST", "/v1/programs", {"name": "M", "config": CONFIG})
        assert status == 201, program
        status, _ = server.call(
            "POST", f"/v1/programs/{program['id']}/participants", participants_csv(40)
        )
        assert status == 200

        # Concurrent connections until both web workers have answered some (bounded).
        path = f"/v1/programs/{program['id']}"
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            for _ in range(20):
                statuses = list(pool.map(lambda _: server.call("GET", path)[0], range(40)))
                assert statuses == [200] * 40
                sent += 40
                if len(_worker_pids(metrics_dir)) >= 2:
                    break
        assert len(_worker_pids(metrics_dir)) >= 2, "one gunicorn worker answered everything"

        label = frozenset({"method": "GET", "route": PROGRAM_RULE, "status": "200"}.items())
        # Every scrape, whichever worker answers it, sums both workers' counts.
        for _ in range(6):
            assert server.scrape()[("mentormatch_http_requests_total", label)] == sent

        # A worker that dies is replaced; what it counted stays counted.
        os.kill(min(_worker_pids(metrics_dir)), signal.SIGTERM)
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: server.call("GET", path)[0], range(40)))
        assert statuses == [200] * 40
        sent += 40
        assert server.scrape()[("mentormatch_http_requests_total", label)] == sent

        # The companion worker (SQLite queue) ran the run; its phases show here.
        status, run = server.call("POST", f"/v1/programs/{program['id']}/runs?wait=60", {})
        assert status == 201, run
        assert run["status"] == "succeeded", run
        samples = server.scrape()
        total = frozenset({"phase": "total"}.items())
        assert samples[("mentormatch_run_phase_seconds_count", total)] == 1
        assert samples[("mentormatch_run_phase_seconds_sum", total)] > 0
        assert samples[("mentormatch_runs", frozenset({"status": "succeeded"}.items()))] == 1

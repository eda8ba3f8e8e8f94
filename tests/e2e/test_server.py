"""End to end: the real ``mentormatch`` command, a real gunicorn server, HTTP over TCP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

CONFIG = {
    "fields": [
        {"key": "department", "type": "category", "values": ["eng", "sales", "ops"]},
        {"key": "languages", "type": "multi"},
        {"key": "utc_offset", "type": "number"},
    ],
    "position_levels": ["Associate", "Senior", "Manager", "Director"],
    "criteria": [
        {"name": "skills", "kind": "skill_overlap", "weight": 3},
        {"name": "seniority", "kind": "seniority_gap", "weight": 1},
        {"name": "language", "kind": "overlap", "field": "languages", "required": True},
        {"name": "timezone", "kind": "proximity", "field": "utc_offset", "params": {"scale": 3}},
    ],
}
HEADER = (
    "external_id,role,name,email,position,level,skills,capacity,exclude,"
    "department,languages,utc_offset"
)


def participants_csv(n: int) -> str:
    """``n`` participants, one mentor per four, in the upload format."""
    skills = ["python", "sql", "leadership", "design", "sales", "ml"]
    positions = CONFIG["position_levels"]
    rows = [HEADER]
    for i in range(n):
        mentor = i % 4 == 0
        rows.append(
            ",".join(
                [
                    f"u{i}",
                    "mentor" if mentor else "mentee",
                    f'"Person {i}, Jr"',
                    f"p{i}@example.org",
                    positions[(i // 4) % 4],
                    str(i % 4),
                    ";".join(skills[i % 6 : i % 6 + 2]),
                    "2" if mentor else "",
                    f"u{i + 1}" if i % 10 == 0 else "",
                    ["eng", "sales", "ops"][i % 3],
                    "en;fr" if i % 2 else "en",
                    str((i % 12) - 5),
                ]
            )
        )
    return "\n".join(rows) + "\n"


def _command() -> str:
    found = Path(sys.executable).with_name("mentormatch")
    if found.exists():
        return str(found)
    on_path = shutil.which("mentormatch")
    assert on_path, "the mentormatch console script is not installed (pip install -e .)"
    return on_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    key: str

    def call(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("e2e")
    env = {
        **os.environ,
        "MENTORMATCH_DATABASE_URL": f"sqlite:///{workdir / 'e2e.sqlite3'}",
        "MENTORMATCH_WEB_WORKERS": "1",
        "MENTORMATCH_LOG_LEVEL": "WARNING",
    }
    cmd = _command()

    def run(*args: str) -> str:
        done = subprocess.run(
            [cmd, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("db", "upgrade")
    key = run("create-org", "E2E Inc", "--owner", "owner@e2e.example").strip().splitlines()[-1]
    port = _free_port()
    log = (workdir / "server.log").open("w")
    proc = subprocess.Popen(
        [cmd, "serve", "--port", str(port)], cwd=workdir, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (workdir / "server.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /v1/health in 30 s"
            time.sleep(0.1)
        yield Server(base, key)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        finally:
            log.close()
    assert code == 0, (workdir / "server.log").read_text()[-2000:]


def test_program_and_a_1000_row_csv_upload(server: Server) -> None:
    status, program = server.call("POST", "/programs", {"name": "E2E", "config": CONFIG})
    assert status == 201, program
    path = f"/programs/{program['id']}/participants"

    started = time.perf_counter()
    status, result = server.call("POST", path, participants_csv(1000), content_type="text/csv")
    elapsed = time.perf_counter() - started
    assert status == 200, result
    assert (result["created"], result["updated"], len(result["ids"])) == (1000, 0, 1000)
    print(f"\n1,000-row CSV upload over HTTP (SQLite): {elapsed * 1000:.0f} ms")

    status, again = server.call("POST", path, participants_csv(1000), content_type="text/csv")
    assert status == 200
    assert again["unchanged"] == 1000

    status, page = server.call("GET", f"{path}?role=mentor&limit=1000")
    assert status == 200
    assert len(page["items"]) == 250

    broken = participants_csv(3).replace("u2,mentee", "u2,boss").replace(",sales,", ",hr,")
    status, problem = server.call("POST", path, broken, content_type="text/csv")
    assert status == 422
    assert problem["errors"]["row 4.role"] == ["must be one of: mentor, mentee; got 'boss'"]
    assert "row 3.department" in problem["errors"]
    status, page = server.call("GET", f"{path}?limit=1")
    assert status == 200
    assert page["items"][0]["external_id"] == "u0"


def test_unauthenticated_calls_are_401(server: Server) -> None:
    status, problem = Server(server.base, "mm_nope").call("GET", "/programs")
    assert status == 401
    assert problem["status"] == 401

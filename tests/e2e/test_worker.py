"""End to end: a real server, a real ``mentormatch worker``, 2,000 participants by CSV.

The SQLite queue always runs; the Redis queue too when MENTORMATCH_TEST_REDIS_URL is set
(tests/conftest.py deselects it otherwise).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from api.services.csv_format import participants_csv
from models import Match
from scoring.synthetic import generate_cohort

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
REDIS_ENV = "MENTORMATCH_TEST_REDIS_URL"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    def __init__(self, base: str, key: str) -> None:
        self.base, self.key = base, key

    def call(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "mentormatch"), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_healthy(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(base + "/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"server did not come up: {log.read_text()}")


def _environment(tmp_path: Path, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTORMATCH_")}
    env["MENTORMATCH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'e2e.sqlite3'}"
    env["MENTORMATCH_WEB_WORKERS"] = "1"
    env["MENTORMATCH_LOG_LEVEL"] = "WARNING"
    if redis_url:
        env["MENTORMATCH_REDIS_URL"] = redis_url
        env["MENTORMATCH_QUEUE_NAME"] = f"mm-e2e-{uuid.uuid4().hex[:8]}"
    return env


def _match_a_cohort(client: Client, db_url: str, n: int = 1000) -> dict[str, Any]:
    mentees, mentors, config = generate_cohort(n, n, seed=7)
    status, program = client.call("POST", "/programs", {"name": "E2E", "config": config})
    assert status == 201, program
    pid = program["id"]
    keys = [f["key"] for f in config["fields"]]
    for people, role in ((mentees, "mentee"), (mentors, "mentor")):
        body = participants_csv(people, role, keys).encode()
        status, result = client.call(
            "POST", f"/programs/{pid}/participants", body, content_type="text/csv"
        )
        assert status in (200, 201), result

    status, run = client.call("POST", f"/programs/{pid}/runs", {"scope": "all"})
    assert status == 202, run
    assert run["status"] in ("queued", "running", "succeeded"), run
    deadline = time.monotonic() + 90
    while run["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"run did not finish: {run}"
        time.sleep(0.25)
        status, run = client.call("GET", f"/programs/{pid}/runs/{run['id']}")
        assert status == 200
    assert run["status"] == "succeeded", run["error"]
    assert run["stats"]["n_mentees"] == n
    assert run["stats"]["n_mentors"] == n
    assert run["stats"]["matched"] > 0.8 * n

    engine = create_engine(db_url)
    with engine.connect() as conn:
        stored = conn.scalar(
            select(func.count()).select_from(Match).where(Match.run_id == uuid.UUID(run["id"]))
        )
        breakdown = conn.scalar(
            select(Match.breakdown).where(Match.run_id == uuid.UUID(run["id"])).limit(1)
        )
    engine.dispose()
    assert stored == run["stats"]["matched"]
    assert {b["criterion"] for b in breakdown} >= {"skills", "seniority"}
    return run


@pytest.mark.parametrize("queue", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_server_and_worker_processes_match_2000_uploaded_participants(
    tmp_path: Path, queue: str
) -> None:
    redis_url = os.environ[REDIS_ENV] if queue == "redis" else None
    env = _environment(tmp_path, redis_url)
    env["MENTORMATCH_NO_WORKER"] = "1"  # the separate worker below is the only consumer
    _cli(env, "db", "upgrade")
    key = _cli(env, "create-org", "E2E", "--owner", "owner@e2e.example").strip().splitlines()[-1]
    port = _free_port()
    base = f"http://127.0.0.1:{port}/v1"
    server_cmd = [str(BIN / "mentormatch"), "serve", "--port", str(port)]
    worker_cmd = [str(BIN / "mentormatch"), "worker"]
    with (
        _process(server_cmd, env, tmp_path / "server.log") as server,
        _process(worker_cmd, env, tmp_path / "worker.log") as worker,
    ):
        _wait_healthy(base, server, tmp_path / "server.log")
        client = Client(base, key)
        run = _match_a_cohort(client, env["MENTORMATCH_DATABASE_URL"])
        _review_edit_publish_and_audit(client, run, env)
        assert worker.poll() is None


def _review_edit_publish_and_audit(
    client: Client, run: dict[str, Any], env: dict[str, str]
) -> None:
    """The admin's side of the button: review, edit one, publish, then check the audit."""
    pid, rid = run["program_id"], run["id"]
    status, page = client.call("GET", f"/programs/{pid}/runs/{rid}/matches?limit=200")
    assert status == 200
    assert len(page["items"]) == 200
    for proposal in page["items"]:
        contributions = sum(b["contribution"] for b in proposal["breakdown"])
        assert abs(contributions - proposal["score"]) < 1e-5, proposal
        assert proposal["reasons"]
        assert proposal["status"] == "proposed"
    assert page["unmatched_count"] == run["stats"]["n_mentees"] - run["stats"]["matched"]

    # Give a mentee another mentor: the first recommended one the rules accept. Most
    # recommended mentors are full with this run's other proposals (a 422 saying so), so
    # try a few mentees.
    edited, target, chosen, refusals = None, None, None, []
    for target in page["items"][:20]:
        status, recs = client.call(
            "GET", f"/programs/{pid}/participants/{target['mentee']['id']}/recommendations?limit=20"
        )
        assert status == 200, recs
        for rec in recs["items"]:
            if rec["partner"]["id"] == target["mentor"]["id"]:
                continue
            status, body = client.call(
                "PATCH", f"/matches/{target['id']}", {"mentor_id": rec["partner"]["id"]}
            )
            if status == 200:
                edited, chosen = body, rec
                break
            assert status == 422, body  # a rule said no, and said which
            refusals.append(body["detail"])
        if edited is not None:
            break
    assert edited is not None, refusals[:5]
    assert target is not None
    assert chosen is not None
    # The edit re-explains the new pair exactly as the recommendation did.
    assert edited["mentor"]["id"] == chosen["partner"]["id"] != target["mentor"]["id"]
    assert edited["reasons"] == chosen["reasons"]
    assert abs(edited["score"] - chosen["score"]) < 1e-6

    status, published = client.call("POST", f"/programs/{pid}/runs/{rid}/publish", {})
    assert status == 200
    assert published["newly_published"] == run["stats"]["matched"]
    status, again = client.call("POST", f"/programs/{pid}/runs/{rid}/publish", {})
    assert status == 200
    assert again["newly_published"] == 0

    status, actions = client.call("GET", "/audit?limit=100")
    assert status == 200
    assert {"run.triggered", "match.edited", "match.published"} <= {
        e["action"] for e in actions["items"]
    }
    status, report = client.call("GET", "/audit/verify")
    assert status == 200, report
    assert report["valid"] is True, report

    # Someone with database access rewrites history: the chain gives them away.
    engine = create_engine(env["MENTORMATCH_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET action = 'match.rejected' WHERE seq = 2"))
    engine.dispose()
    status, report = client.call("GET", "/audit/verify")
    assert status == 200
    assert report["valid"] is False
    assert report["first_bad_seq"] == 2
    done = subprocess.run(
        [str(BIN / "mentormatch"), "audit", "verify"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "BROKEN" in done.stdout


def test_serve_runs_its_own_worker_and_stops_it(tmp_path: Path) -> None:
    env = _environment(tmp_path, None)
    _cli(env, "db", "upgrade")
    key = _cli(env, "create-org", "E2E", "--owner", "owner@e2e.example").strip().splitlines()[-1]
    port = _free_port()
    base = f"http://127.0.0.1:{port}/v1"
    with _process(
        [str(BIN / "mentormatch"), "serve", "--port", str(port)], env, tmp_path / "serve.log"
    ) as server:
        _wait_healthy(base, server, tmp_path / "serve.log")
        _match_a_cohort(Client(base, key), env["MENTORMATCH_DATABASE_URL"], n=200)
        children = _children(server.pid)
        assert any("worker" in cmd for cmd in children.values()), children
        server.send_signal(signal.SIGTERM)
        server.wait(20)
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = [pid for pid in children if _is_running(pid)]
    assert alive == [], "the companion worker outlived the server"


def test_serve_restarts_its_companion_worker_when_it_dies(tmp_path: Path) -> None:
    env = _environment(tmp_path, None)
    _cli(env, "db", "upgrade")
    key = _cli(env, "create-org", "E2E", "--owner", "owner@e2e.example").strip().splitlines()[-1]
    port = _free_port()
    base = f"http://127.0.0.1:{port}/v1"
    log = tmp_path / "serve.log"
    with _process([str(BIN / "mentormatch"), "serve", "--port", str(port)], env, log) as server:
        _wait_healthy(base, server, log)
        [first] = _companions(server.pid)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while not (restarted := [pid for pid in _companions(server.pid) if pid != first]):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        assert not _is_running(first)
        _match_a_cohort(Client(base, key), env["MENTORMATCH_DATABASE_URL"], n=100)
        assert _companions(server.pid) == restarted  # the new one ran it, and lives on
    died = [json.loads(line) for line in log.read_text().splitlines() if "companion" in line]
    assert [(e["message"], e["pid"]) for e in died if e.get("level") == "error"] == [
        ("companion worker died; restarting it", first)
    ]


def _companions(server_pid: int) -> list[int]:
    return [pid for pid, cmd in _children(server_pid).items() if "api.cli worker" in cmd]


def _children(pid: int) -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) == pid:
                found[int(entry.name)] = (entry / "cmdline").read_text().replace("\0", " ")
        except (OSError, IndexError, ValueError):
            continue
    return found


def _is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_process_workers_refuse_a_sqlite_database(tmp_path: Path) -> None:
    env = _environment(tmp_path, None)
    done = subprocess.run(
        [str(BIN / "mentormatch"), "worker", "--worker-type", "process"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr  # a usage error: nothing was started
    assert "--worker-type process needs PostgreSQL" in done.stderr

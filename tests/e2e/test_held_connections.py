"""End to end: gunicorn holds the connection of a client that ignores ``Retry-After``
(api.held), and nobody else's.

A real ``mentormatch serve`` (one web process) on SQLite with an expensive-read limit
of one a minute: the first report is answered, the second is the limiter's 429 (the
wait), the third, asked at once on the same connection, is refused from memory and
holds that connection. The fourth request on it is read only once the hold is over,
while the same organization's requests on another connection are answered meanwhile.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_server import CONFIG, _command, _free_port

pytestmark = pytest.mark.e2e
HOLD = 2.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MENTORMATCH_")},
        "MENTORMATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'held.sqlite3'}",
        "MENTORMATCH_WEB_WORKERS": "1",
        "MENTORMATCH_NO_WORKER": "1",
        "MENTORMATCH_LOG_LEVEL": "WARNING",
        "MENTORMATCH_RATE_LIMIT_EXPENSIVE": "1/minute",
        "MENTORMATCH_REFUSAL_HOLD_SECONDS": str(HOLD),
    }
    cmd = _command()
    for args in (["db", "upgrade"], ["create-org", "Held Inc", "--owner", "o@held.example"]):
        done = subprocess.run([cmd, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    key = done.stdout.strip().splitlines()[-1]
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([cmd, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                if _call(probe, "", "/health")[0] == 200:
                    break
            except OSError:
                pass
            finally:
                probe.close()
            assert time.monotonic() < deadline, "the server did not answer /v1/health in 30 s"
            time.sleep(0.1)
        yield port, key
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _call(
    conn: http.client.HTTPConnection, key: str, path: str, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    method = "GET" if body is None else "POST"
    data = None if body is None else json.dumps(body).encode()
    conn.request(method, "/v1" + path, body=data, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    return response.status, dict(response.getheaders()), json.loads(raw or b"null")


def test_a_client_asking_during_its_wait_is_held_and_no_one_else(
    server: tuple[int, str],
) -> None:
    port, key = server
    other = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    status, _, program = _call(other, key, "/programs", {"name": "Held", "config": CONFIG})
    assert status == 201, program
    report = f"/programs/{program['id']}/report"

    flood = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    assert _call(flood, key, report)[0] == 200
    status, headers, _ = _call(flood, key, report)  # the limiter: told to wait
    assert status == 429
    assert int(headers["Retry-After"]) > HOLD
    started = time.monotonic()
    status, _, problem = _call(flood, key, report)  # asked again at once: refused, held
    assert (status, problem["status"]) == (429, 429)
    assert time.monotonic() - started < HOLD  # the refusal itself is not delayed

    answered: dict[str, float] = {}

    def ask_again() -> None:
        sent = time.monotonic()
        assert _call(flood, key, report)[0] == 429
        answered["flood"] = time.monotonic() - sent

    held = threading.Thread(target=ask_again)
    held.start()
    time.sleep(0.2)  # the request is on the held connection's socket, unread
    for _ in range(3):  # the same organization's other connection is served meanwhile
        assert _call(other, key, f"/programs/{program['id']}")[0] == 200
    assert held.is_alive(), "the held connection's request was answered within the hold"
    held.join(timeout=30)
    assert not held.is_alive()
    assert answered["flood"] >= HOLD - 0.5  # read once the hold since the refusal ended
    other.close()
    flood.close()

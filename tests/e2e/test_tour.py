"""End to end: the tour ``mentormatch demo`` prints (``make run``) works as printed.

As ``make run`` does: migrate, ``demo`` (which prints the tour with a fresh key),
``serve``; then the printed shell lines run, unchanged, in bash from a directory
laid out like the repository (``.venv`` is this interpreter's environment), and the
test checks what they did through the API: a program of 1,000 participants, a broken
upload refused, a run that succeeded, one mentee's proposal and best mentors with
reasons, and the run published.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_server import _command, _free_port

pytestmark = pytest.mark.e2e


@dataclass
class Tour:
    printed: str
    workdir: Path
    env: dict[str, str]


def _shell_lines(printed: str) -> str:
    """The tour's commands as printed: the indented lines from the export on."""
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  export MM="))
    end = next(i for i, line in enumerate(lines) if line.startswith("API docs:"))
    return "\n".join(line[2:] for line in lines[start:end] if line.startswith("  "))


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tour]:
    workdir = tmp_path_factory.mktemp("tour")
    (workdir / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTORMATCH_")}
    env |= {
        "MENTORMATCH_DATABASE_URL": f"sqlite:///{workdir / 'demo.sqlite3'}",
        "MENTORMATCH_WEB_WORKERS": "1",
        "MENTORMATCH_LOG_LEVEL": "WARNING",
    }
    cmd, port = _command(), _free_port()

    def run(*args: str) -> str:
        done = subprocess.run(
            [cmd, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("db", "upgrade")
    printed = run("demo", "--host", "127.0.0.1", "--port", str(port))
    log = (workdir / "server.log").open("w")
    server = subprocess.Popen(
        [cmd, "serve", "--port", str(port)], cwd=workdir, env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (workdir / "server.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer in 30 s"
                time.sleep(0.1)
        yield Tour(printed, workdir, env)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _export(printed: str) -> tuple[str, str]:
    """The base URL and key of the printed ``export MM=... MM_KEY=...`` line."""
    line = next(line for line in printed.splitlines() if line.startswith("  export MM="))
    values = dict(word.split("=", 1) for word in line.split()[1:])
    return values["MM"], values["MM_KEY"]


def _get(base: str, key: str, path: str) -> Any:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def test_the_printed_tour_runs_from_upload_to_publish(tour: Tour) -> None:
    script = "set -euo pipefail\n" + _shell_lines(tour.printed)
    script += '\necho "TOUR PID=$PID RID=$RID MENTEE=$MENTEE"\n'
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tour.workdir,
        env=tour.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = dict(part.split("=", 1) for part in done.stdout.splitlines()[-1].split()[1:])
    base, key = _export(tour.printed)
    program = f"/programs/{found['PID']}"

    assert json.loads(done.stdout.splitlines()[0])["status"] == "ok"  # the health check
    assert "row 3.role" in done.stdout  # the broken CSV, refused by row and field
    people = _get(base, key, f"{program}/participants?limit=1000")
    assert len(people["items"]) == 1000  # ...and nothing of it written
    run = _get(base, key, f"{program}/runs/{found['RID']}")
    assert run["status"] == "succeeded", run
    # The mentee's proposal, printed with its reasons, and their best mentors.
    proposal = next(line for line in done.stderr.splitlines() if " -> " in line)
    assert proposal.split(" -> ")[0]
    assert "[]" not in proposal
    assert '"reasons"' in done.stdout
    assert found["MENTEE"] in done.stdout  # the recommendations name their participant
    published = _get(base, key, f"{program}/matches?status=published&limit=1000")
    assert len(published["items"]) == run["stats"]["matched"] > 0

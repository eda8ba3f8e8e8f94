"""Workers yield the CPU: ``mentormatch worker`` and ``serve``'s companion worker run at
``MENTORMATCH_WORKER_NICE``, every thread of them, while the API processes do not.

The nice value is read from ``/proc`` (Linux keeps one per thread: each is checked).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_worker import _process

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads Linux's /proc"),
]
BIN = Path(sys.executable).parent
OWN_NICE = os.nice(0)


def _environment(tmp_path: Path, nice: int | None, database: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTORMATCH_")}
    env["MENTORMATCH_DATABASE_URL"] = database or f"sqlite:///{tmp_path / 'nice.sqlite3'}"
    env["MENTORMATCH_JOBS_PATH"] = str(tmp_path / "jobs.sqlite3")
    env["MENTORMATCH_AUDIT_KEY"] = os.environ["MENTORMATCH_AUDIT_KEY"]
    env["MENTORMATCH_WEB_WORKERS"] = "1"
    env["MENTORMATCH_LOG_LEVEL"] = "INFO"
    if nice is not None:
        env["MENTORMATCH_WORKER_NICE"] = str(nice)
    subprocess.run(
        [str(BIN / "mentormatch"), "db", "upgrade"], env=env, capture_output=True, check=True
    )
    return env


def _thread_nices(pid: int) -> dict[int, int]:
    """Each thread's nice value (field 19 of /proc/<pid>/task/<tid>/stat)."""
    nices = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:  # a thread that just ended
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "(comm)", which may hold spaces
        nices[int(task.name)] = int(fields[16])
    return nices


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return found


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def _wait_for(log: Path, text: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while text not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"no {text!r} in: {log.read_text()}"
        time.sleep(0.1)


def _wait_threads(pid: int, at_least: int) -> dict[int, int]:
    """The worker's threads' nice values once its consumer has started its threads."""
    deadline = time.monotonic() + 30
    while len(nices := _thread_nices(pid)) < at_least:
        assert time.monotonic() < deadline, f"only {len(nices)} threads"
        time.sleep(0.1)
    return nices


@pytest.mark.parametrize(("nice", "expected"), [(7, 7), (None, 10), (0, 0)])
def test_a_worker_and_all_its_threads_run_at_the_worker_nice_value(
    tmp_path: Path, nice: int | None, expected: int
) -> None:
    env = _environment(tmp_path, nice)
    log = tmp_path / "worker.log"
    with _process([str(BIN / "mentormatch"), "worker", "--workers", "2"], env, log) as worker:
        _wait_for(log, "worker starting", worker)
        # main, heartbeat, sweep, the consumer's scheduler and its 2 workers
        nices = _wait_threads(worker.pid, 6)
        assert set(nices.values()) == {max(expected, OWN_NICE)}, nices
        assert f'"nice": {max(expected, OWN_NICE)}' in log.read_text()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_process_workers_a_worker_forks_run_at_its_nice_value_too(
    tmp_path: Path, db_url: str
) -> None:
    env = _environment(tmp_path, 6, db_url)  # process workers need PostgreSQL
    log = tmp_path / "worker.log"
    command = [str(BIN / "mentormatch"), "worker", "--workers", "2", "--worker-type", "process"]
    with _process(command, env, log) as worker:
        _wait_for(log, "worker starting", worker)
        deadline = time.monotonic() + 30
        while len(children := _children(worker.pid)) < 2:
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"no process workers: {log.read_text()}"
            time.sleep(0.1)
        for pid in [worker.pid, *children]:
            assert set(_thread_nices(pid).values()) == {max(6, OWN_NICE)}, _cmdline(pid)


def test_serve_runs_its_companion_worker_at_the_worker_nice_value_and_itself_not(
    tmp_path: Path,
) -> None:
    env = _environment(tmp_path, 9)
    log = tmp_path / "server.log"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    command = [str(BIN / "mentormatch"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with _process(command, env, log) as server:
        _wait_for(log, "worker starting", server)
        children = _children(server.pid)
        workers = [pid for pid in children if "worker" in _cmdline(pid)]
        assert len(workers) == 1, [_cmdline(pid) for pid in children]
        nices = _wait_threads(workers[0], 4)
        assert set(nices.values()) == {max(9, OWN_NICE)}, nices
        web = [pid for pid in children if pid not in workers]
        assert web, "no gunicorn worker"
        for pid in [server.pid, *web]:
            assert set(_thread_nices(pid).values()) == {OWN_NICE}, _cmdline(pid)

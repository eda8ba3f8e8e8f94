"""A process worker forked while its consumer's maintenance thread is inside a SQLite
queue transaction must still be able to use the queue (CI once saw every dequeue of
a forked worker fail with "database is locked" after the fork met a heartbeat)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from huey.storage import SqliteStorage

from api.services.runs.queue import _closed_across_forks

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _write_in_child(path: Path) -> int:
    """Fork; the child opens the queue afresh and writes to it (1 s busy timeout).
    The child's exit status: 0 written, 1 "database is locked"."""
    pid = os.fork()
    if pid == 0:  # the child: nothing of pytest's, just the write and an exit code
        code = 1
        try:
            SqliteStorage("q", filename=str(path), timeout=1).put_data("child", b"x")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _fork_during_a_transaction(storage: SqliteStorage, wrap: Any) -> tuple[int, float]:
    """A thread holds a write transaction on ``storage`` for 0.3 s (its action wrapped
    by ``wrap``); the main thread forks meanwhile. Returns the child's exit code and
    when the fork was asked for, relative to the end of the transaction."""
    inside, ended = threading.Event(), []

    def hold_a_transaction() -> None:
        with storage.db(commit=True) as cursor:
            cursor.execute("insert or replace into kv (queue, key, value) values ('q', 'k', x'00')")
            inside.set()
            time.sleep(0.3)
        ended.append(time.monotonic())

    thread = threading.Thread(target=wrap(hold_a_transaction))
    thread.start()
    inside.wait(5)
    forked_at = time.monotonic()
    code = _write_in_child(Path(storage.filename))
    thread.join()
    return code, forked_at - ended[0]


def test_the_guard_makes_a_fork_wait_for_the_transaction(tmp_path: Path) -> None:
    storage = SqliteStorage("q", filename=str(tmp_path / "jobs.sqlite3"), timeout=1)
    code, forked_at = _fork_during_a_transaction(storage, _closed_across_forks(storage))
    assert forked_at < 0  # the fork was asked for inside the transaction, yet...
    assert code == 0  # ...the child could write: the fork waited for the action's end
    assert storage._conn is None  # the action's connection is closed after it


def test_without_the_guard_the_child_finds_the_queue_locked(tmp_path: Path) -> None:
    """The hazard itself, so that the guard above is known to guard something."""
    storage = SqliteStorage("q", filename=str(tmp_path / "jobs.sqlite3"), timeout=1)
    code, forked_at = _fork_during_a_transaction(storage, lambda action: action)
    assert forked_at < 0
    assert code == 1

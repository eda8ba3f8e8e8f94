"""The one rerun of a read whose connection dropped (``api.faults.retry_dropped_reads``):
only for a request that never tried to commit, since some GETs write (an export's job,
the one-time download)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from api import db
from api.faults import retry_dropped_reads


def _dropped() -> DBAPIError:
    return DBAPIError(
        "SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=True
    )


def test_a_read_whose_connection_dropped_runs_once_more(app: Any) -> None:
    calls: list[int] = []

    def view() -> str:
        calls.append(1)
        db.get_session()
        if len(calls) == 1:
            raise _dropped()
        return "ok"

    with app.test_request_context("/v1/programs", method="GET"):
        assert retry_dropped_reads(view)() == "ok"
    assert calls == [1, 1]


def test_a_get_that_tried_to_commit_is_not_run_again(app: Any) -> None:
    calls: list[int] = []

    def view() -> str:
        calls.append(1)
        db.get_session().commit()  # as the export GET does before it enqueues
        raise _dropped()

    with app.test_request_context("/v1/export", method="GET"), pytest.raises(DBAPIError):
        retry_dropped_reads(view)()
    assert calls == [1]

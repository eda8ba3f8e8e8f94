"""Faults answered honestly: a database or queue that cannot serve now is a 503.

An unreachable PostgreSQL, a SQLite database locked by another writer past its busy
timeout, a connection pool with none free, or an unreachable Redis (the queue on a
trigger or an export) answers ``503 Service Unavailable`` as problem+json with
``Retry-After: RETRY_AFTER_SECONDS``, never a 500. So does a PostgreSQL transaction
the server aborted because of another one: a deadlock (SQLSTATE ``40P01``), a
serialization failure (``40001``), or a lock not granted within ``lock_timeout``
(``55P03``). Nothing is half-written: the request's session is rolled back when it
closes (:mod:`api.db`), and a use case that commits before it enqueues fails its run
first (``runs.trigger``). Any other database error is still a bug and a 500.

Recovery needs no restart: the engine pings a pooled connection that sat idle before
lending it (:func:`models.db.make_engine`), so a restarted server's dead connections
are replaced, and a connection that fails a statement as dropped takes the pool's
older connections with it; and a read (GET or HEAD) whose connection dropped while it
ran, or whose transaction lost a deadlock or a serialization conflict (PostgreSQL's
own advice for those: run the transaction again; the other one has gone ahead), is
run once more on a new session (:func:`retry_dropped_reads`). A lock timeout is not
rerun: the lock's holder is still there, so an immediate rerun would wait as long
again. Writes are never rerun: whether a dropped commit reached the database is
unknown, and a write's client may retry after the 503 knowing nothing was written.
A read that tried to commit (some GETs write) is not rerun either.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import redis.exceptions
from flask import Flask, Response, request
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from api import db
from api.errors import problem, unexpected

log = logging.getLogger(__name__)

#: What a 503 asks the client to wait before trying again, in seconds.
RETRY_AFTER_SECONDS = 5
#: Methods whose view is run once more after a dropped connection.
RETRIED_METHODS = frozenset({"GET", "HEAD"})
#: PostgreSQL SQLSTATEs of a server that cannot serve now: class 08 (connection
#: exception) by prefix, and the shutdown, starting up and too-many-connections codes.
_UNAVAILABLE_SQLSTATE_CLASS = "08"
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
#: PostgreSQL SQLSTATEs of a transaction aborted because of a concurrent one: the 503's
#: detail; the first two are worth a read's rerun (:func:`lost_a_conflict`).
_CONFLICT_SQLSTATES = {
    "40P01": "the database aborted the request's transaction to break a deadlock",
    "40001": "the request's transaction conflicted with a concurrent one",
    "55P03": "a row or table the request needs stayed locked by another transaction",
}
_RERUN_SQLSTATES = frozenset({"40P01", "40001"})
#: SQLite's words for a lock held by another connection past the busy timeout.
_SQLITE_BUSY = ("database is locked", "database is busy", "database table is locked")

_QUEUE_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
#: How far back :func:`_chain` looks for the fault behind an error.
_CHAIN_DEPTH = 5


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling, newest first:
    cleaning up after a dropped connection (a ``finally`` resetting the tenant scope)
    raises its own error, PendingRollbackError, over the disconnect that caused it."""
    seen: BaseException | None = exc
    for _ in range(_CHAIN_DEPTH):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def dropped_connection(exc: BaseException) -> bool:
    """Whether ``exc`` comes of a database connection lost mid-request."""
    return any(isinstance(e, DBAPIError) and e.connection_invalidated for e in _chain(exc))


def lost_a_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` comes of a deadlock or serialization failure on PostgreSQL: the
    server rolled the transaction back, and running it again is expected to succeed."""
    return any(_sqlstate(e) in _RERUN_SQLSTATES for e in _chain(exc))


def _sqlstate(exc: BaseException) -> str | None:
    if isinstance(exc, DBAPIError) and isinstance(exc.orig, psycopg.Error):
        return exc.orig.sqlstate
    return None


def unavailable_reason(exc: BaseException) -> str | None:
    """Why ``exc`` means "the service cannot serve now" (the 503's detail), or None
    when it is a bug (a 500)."""
    return next(filter(None, map(_reason, _chain(exc))), None)


def _reason(exc: BaseException) -> str | None:
    if isinstance(exc, PoolTimeout):
        return "every database connection is in use"
    if isinstance(exc, _QUEUE_DOWN):
        return "the job queue (Redis) is unreachable"
    if isinstance(exc, sqlite3.OperationalError):  # Huey's SQLite queue, not through SQLAlchemy
        return "the job queue is busy" if _sqlite_busy(exc) else None
    if not isinstance(exc, DBAPIError):
        return None
    if exc.connection_invalidated:
        return "the database connection was lost"
    if isinstance(exc.orig, sqlite3.OperationalError):
        return "the database is busy with another write" if _sqlite_busy(exc.orig) else None
    if not isinstance(exc.orig, psycopg.OperationalError):
        return None
    sqlstate = exc.orig.sqlstate
    if sqlstate is None:
        return "the database is unreachable"  # the connection never opened
    if sqlstate.startswith(_UNAVAILABLE_SQLSTATE_CLASS) or sqlstate in _UNAVAILABLE_SQLSTATES:
        return "the database is unavailable"
    return _CONFLICT_SQLSTATES.get(sqlstate)


def _sqlite_busy(exc: sqlite3.Error) -> bool:
    return str(exc).startswith(_SQLITE_BUSY)


def unavailable(detail: str, **extra: Any) -> Response:
    """The 503 problem with its Retry-After (``extra``: more members of the problem)."""
    response = problem(503, "Service Unavailable", f"{detail}; retry later", **extra)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _answer(exc: Exception) -> Response:
    reason = unavailable_reason(exc)
    if reason is None:
        return unexpected(exc)
    # The exception's text may hold the server's address: the log keeps its class only.
    log.warning("service unavailable: %s", reason, extra={"error": type(exc).__name__})
    return unavailable(reason)


def retry_dropped_reads(view: Callable[..., Any]) -> Callable[..., Any]:
    """``view``, run once more on a new session if a read's connection dropped mid-way
    or its transaction lost a deadlock or serialization conflict (unless it had tried
    to commit: then the 503 stands)."""

    @functools.wraps(view)
    def retried(*args: Any, **kwargs: Any) -> Any:
        if request.method not in RETRIED_METHODS:
            return view(*args, **kwargs)
        try:
            return view(*args, **kwargs)
        except Exception as exc:
            dropped = dropped_connection(exc)
            if not (dropped or lost_a_conflict(exc)) or db.commit_attempted():
                raise  # a GET that committed (an export's job) may have written: no rerun
            cause = "connection dropped" if dropped else "transaction lost a conflict"
            log.warning("database %s during a read: retrying it once", cause)
            db.reopen_session()
        return view(*args, **kwargs)

    return retried


def init_app(app: Flask) -> None:
    """Register the 503 handlers and wrap every view registered so far in
    :func:`retry_dropped_reads` (call it after the blueprints)."""
    handled: tuple[type[Exception], ...] = (
        DBAPIError,
        PoolTimeout,
        PendingRollbackError,
        sqlite3.OperationalError,
        *_QUEUE_DOWN,
    )
    for cls in handled:
        app.register_error_handler(cls, _answer)
    for endpoint, view in list(app.view_functions.items()):
        app.view_functions[endpoint] = retry_dropped_reads(view)

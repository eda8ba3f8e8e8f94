"""The app's state for a request: the database session (opened lazily, always closed,
reopened after a dropped connection) and the job queue that ``create_app`` built."""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, request
from sqlalchemy import Connection, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, SessionTransaction

from api.services.runs.queue import Jobs
from models.tenant_guard import require_scope, scope_session

log = logging.getLogger(__name__)


def get_jobs() -> Jobs:
    """The app's job queue (:class:`api.app.State`)."""
    jobs: Jobs = current_app.extensions["mentormatch"].jobs
    return jobs


def get_session() -> Session:
    session: Session | None = g.get("db")
    if session is None:
        # Refuses tenant queries until api.auth scopes it to the key's organization.
        session = require_scope(current_app.extensions["mentormatch"].session_factory())
        # Its transactions and commits are noted (_note_begin, _note_commit).
        session.info[_REQUEST_SESSION] = True
        if request and request.method in ("GET", "HEAD", "OPTIONS"):
            # Reads need no write lock on SQLite (see models.db._sqlite_begin).
            session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        g.db = session
    return session


#: In the ``info`` of each request's own session (:func:`get_session`).
_REQUEST_SESSION = "mentormatch_request_session"


def _note_commit(session: Session) -> None:
    """A commit of the request's session, even one whose answer was lost, may have
    written: such a request is never run again after a dropped connection
    (api.faults.retry_dropped_reads). Listened to on the session factory, once (a
    listener added to each request's session cost ~45 µs): sessions of the same
    factory that are not a request's (the queue's, on their own threads) pass."""
    if session.info.get(_REQUEST_SESSION):
        g.db_commit_attempted = True


def commit_attempted() -> bool:
    """Whether this request's sessions tried to commit (some GETs write: an export)."""
    return bool(g.get("db_commit_attempted", False))


def reopen_session() -> Session:
    """Close the request's session (its connection dropped: :mod:`api.faults`) and open a
    new one, scoped to the organization :mod:`api.auth` found for the request, if any."""
    dropped: Session | None = g.pop("db", None)
    if dropped is not None:
        dropped.close()
    session = get_session()
    actor = g.get("actor")
    if actor is not None:
        scope_session(session, actor.organization_id)
    return session


#: In a connection's ``info`` (SQLAlchemy's: the pooled DBAPI connection's): the current
#: transaction sent a statement other than a SELECT (:func:`_note_statement`).
_WROTE = "mentormatch_wrote"
#: In the ``info`` of a request's session: the connection its transaction is on.
_CONNECTION = "mentormatch_connection"


def _note_statement(
    conn: Connection,
    _cursor: object,
    statement: str,
    _parameters: object,
    _context: object,
    _executemany: bool,
) -> None:
    """Listened to on the app's engine (``before_cursor_execute``): note a transaction
    that sent anything but a SELECT. Conservative: a SAVEPOINT or a ``WITH`` counts. A
    SELECT that writes (a function with side effects, ``SELECT ... INTO``) would not be
    told apart: the API sends none."""
    if statement.lstrip()[:6].upper() != "SELECT":
        conn.info[_WROTE] = True


def _note_begin(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    """A request's session begins a transaction (``after_begin``, on the session
    factory): nothing sent in it yet; note its connection. A savepoint begins within
    the transaction, after what the transaction sent: that is kept."""
    if session.info.get(_REQUEST_SESSION) and not transaction.nested:
        connection.info.pop(_WROTE, None)
        session.info[_CONNECTION] = connection


def _read_only_connection(session: Session) -> Connection | None:
    """The connection of the request's open PostgreSQL transaction if that sent SELECTs
    only (ending it with COMMIT is then ending it with ROLLBACK); None otherwise. A
    change the session never flushed is never sent: the DBAPI COMMIT cannot write it."""
    connection: Connection | None = session.info.get(_CONNECTION)
    if connection is None or connection.closed or connection.invalidated:
        return None  # invalidated: its connection dropped (api.faults answered 503)
    if not session.in_transaction():
        return None
    if connection.dialect.name != "postgresql" or connection.info.get(_WROTE):
        return None
    # psycopg's own state: a transaction open and not failed (a failed one's COMMIT is a
    # ROLLBACK, which would drop the prepared statements anyway). Another driver: None.
    status = getattr(
        getattr(connection.connection.dbapi_connection, "info", None), "transaction_status", None
    )
    if getattr(status, "name", None) != "INTRANS":
        return None
    return connection


def _commit_if_only_read(session: Session) -> None:
    """End a read-only PostgreSQL transaction with COMMIT rather than the ROLLBACK of
    :meth:`Session.close`: psycopg drops every prepared statement of the connection at
    a ROLLBACK, and a statement repeated on one connection is prepared at its sixth
    execution (``prepare_threshold``, 5), then parsed no more at each request. Any other
    transaction is left to the ROLLBACK: what a request left uncommitted is lost.

    The statements stay prepared for the pooled connection's life: after a migration
    that changes what a prepared statement returns, each connection of an API process
    that was running meanwhile fails that statement once ("cached plan must not change
    result type"); restart the API processes after migrating (README, Deployment).

    The DBAPI connection's COMMIT, not :meth:`Session.commit`: there is nothing to
    flush, no object to expire, no commit to note; the ROLLBACK that
    :meth:`Session.close` asks for next finds no transaction open and sends nothing.
    """
    connection = _read_only_connection(session)
    if connection is None:
        return
    try:
        connection.connection.dbapi_connection.commit()  # type: ignore[union-attr]
    except connection.dialect.loaded_dbapi.Error:
        # The connection dropped just now: Session.close's ROLLBACK finds it so and the
        # pool discards it (below); nothing was written either way.
        log.warning("database connection lost while ending a read-only transaction")


def init_app(app: Flask) -> None:
    state = app.extensions["mentormatch"]
    event.listen(state.session_factory, "before_commit", _note_commit)
    event.listen(state.session_factory, "after_begin", _note_begin)
    event.listen(state.engine, "before_cursor_execute", _note_statement)

    @app.teardown_appcontext
    def _close(failure: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is None:
            return
        try:
            if failure is None:  # an exception no handler answered: ROLLBACK only
                _commit_if_only_read(session)
            session.close()  # rolls back whatever a failed request left uncommitted
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # The connection died after the answer was made: the server rolled back,
            # and the pool discards the connection.
            log.warning("database connection lost while closing the request's session")

"""The app's state for a request: the database session (opened lazily, always closed,
reopened after a dropped connection) and the job queue that ``create_app`` built."""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, request
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

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
        if request and request.method in ("GET", "HEAD", "OPTIONS"):
            # Reads need no write lock on SQLite (see models.db._sqlite_begin).
            session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        session.info[_REQUEST_SESSION] = True  # its commits are noted (_note_commit)
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


def init_app(app: Flask) -> None:
    event.listen(app.extensions["mentormatch"].session_factory, "before_commit", _note_commit)

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is None:
            return
        try:
            session.close()  # rolls back whatever a failed request left uncommitted
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # The connection died after the answer was made: the server rolled back,
            # and the pool discards the connection.
            log.warning("database connection lost while closing the request's session")

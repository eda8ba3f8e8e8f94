"""The per-request database session, opened lazily and always closed."""

from __future__ import annotations

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session


def get_session() -> Session:
    if "db" not in g:
        session: Session = current_app.extensions["mentormatch"].session_factory()
        if request and request.method in ("GET", "HEAD", "OPTIONS"):
            # Reads need no write lock on SQLite (see models.db._sqlite_begin).
            session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        g.db = session
    return g.db


def init_app(app: Flask) -> None:
    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()  # rolls back whatever a failed request left uncommitted

"""Engine and session factories. Nothing is created at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from models import tenant_guard

DEFAULT_SQLITE_PATH = Path("instance") / "mentormatch.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def default_sqlite_url() -> str:
    """The embedded SQLite file, ``instance/`` under the working directory.

    The default of ``MENTORMATCH_DATABASE_URL``; the environment is read in
    ``api.settings`` only, never here.
    """
    return f"sqlite:///{DEFAULT_SQLITE_PATH.resolve()}"


def normalize_url(url: str) -> str:
    # Accept the common "postgresql://" and "postgres://" spellings; we ship psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and enforced foreign keys.

    Statement parameters are never put into error messages (``hide_parameters``):
    they hold names and emails, and error messages end up in logs.
    """
    url = normalize_url(url)
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take control so that
        # a write transaction starts with BEGIN IMMEDIATE only when asked, and the
        # busy timeout covers lock upgrades.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front: concurrent writers wait on the busy
    # timeout instead of failing with SQLITE_BUSY_SNAPSHOT halfway through.
    mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_session_factory(
    engine: Engine, *, info: dict[str, Any] | None = None
) -> sessionmaker[Session]:
    """Sessions on ``engine``; ``info`` is every session's ``Session.info`` (the service
    layer keeps the audit chain's key there: ``{"audit_key": bytes}``)."""
    factory = sessionmaker(engine, expire_on_commit=False, info=dict(info or {}))
    tenant_guard.install(factory)  # scoped sessions see one organization (models.tenant_guard)
    return factory

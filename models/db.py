"""Engine and session factories. Nothing is created at import time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from models import tenant_guard

DEFAULT_SQLITE_PATH = Path("instance") / "mentormatch.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: A pooled PostgreSQL connection left idle longer than this is pinged before it is
#: lent again (:func:`_ping_when_idle`).
PING_AFTER_IDLE_SECONDS = 1.0


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
    # JSONB columns decoded by orjson (psycopg's default, json.loads, was a tenth of a
    # page of 50 matches' CPU). The same values: our documents hold no integer beyond
    # 64 bits (orjson would give such an integer back as a float).
    kwargs.setdefault("json_deserializer", orjson.loads)
    if "pool_pre_ping" in kwargs:  # the caller's choice: a ping at every checkout, or none
        return create_engine(url, **kwargs)
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before lending it if it sat idle for more than
    :data:`PING_AFTER_IDLE_SECONDS`; replace it if the ping fails.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip per request,
    about a quarter of a millisecond of the web process's CPU (of some 5 for a read).
    A connection that answered a moment ago is as good as pinged; one that idled (a
    restarted or failed-over server, a proxy's idle timeout, a terminated backend) is
    pinged. A connection that dies within a second of its last use fails its next
    statement instead: SQLAlchemy then drops every connection of the pool older than
    that error, a read is run again on a new one and a write answers 503
    (:mod:`api.faults`), so even then nothing needs a restart.
    """

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since <= PING_AFTER_IDLE_SECONDS:
            return  # just connected, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool discards it and lends another (or connects)
            raise DisconnectionError("a pooled connection failed its ping") from exc


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

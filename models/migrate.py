"""Programmatic Alembic: ``mentormatch db upgrade`` and the test fixtures call this."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from models.db import make_engine, normalize_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalize_url(url))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (default: the newest)."""
    engine = make_engine(url)
    try:
        with (
            engine.connect() as connection,
            sqlite_foreign_keys_off(connection),
            connection.begin(),
        ):
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


@contextmanager
def sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """On SQLite, stop enforcing foreign keys while the migrations run.

    SQLite alters a table by rebuilding it (Alembic's batch mode): the old table is
    dropped, and with enforcement on that drop cascades to every row pointing at it
    (rebuilding ``runs`` would delete every match). This is SQLite's own procedure
    for altering tables; ``check_foreign_keys`` then proves nothing was left dangling
    before the migrations' transaction commits. The pragma is ignored inside a
    transaction, so it goes through the driver before SQLAlchemy begins one.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection), driver
    if connection.in_transaction():
        raise RuntimeError("foreign keys can only be switched off outside a transaction")
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


def check_foreign_keys(connection: Connection) -> None:
    """Refuse to commit migrations that left a reference dangling (SQLite; see above)."""
    if connection.dialect.name != "sqlite":
        return
    dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if dangling:
        raise RuntimeError(f"migrations left dangling foreign keys (table, rowid, ...): {dangling}")

"""Many rows into one table, in as few statements as the database allows.

A run's proposals are a thousand rows and more. Through ``Session.execute(insert(t),
rows)`` psycopg sends one ``INSERT`` per row (pipelined, one round trip, but each
parsed, bound and executed by PostgreSQL): 1,000 proposals cost the server about
80 ms of CPU, at normal priority beside the API's requests however low the worker's
own priority is. On PostgreSQL :func:`insert_rows` sends one statement per
``batch`` rows instead, each column as one array::

    INSERT INTO matches (id, score, ...)
    SELECT * FROM unnest(CAST(:id AS UUID[]), CAST(:score AS FLOAT[]), ...)

(``COPY`` would be cheaper still, but PostgreSQL refuses ``COPY FROM`` into a table
under row-level security, as every tenant table is.) Each value goes through its
column's bind processing first, as in an ordinary insert; the row-level security
policies check every row as they do for any insert. SQLite, the embedded default,
takes the ordinary executemany.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.orm import Session

#: Rows per statement (one array per column each).
BATCH = 5000


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    batch: int = BATCH,
) -> None:
    """Insert ``rows`` (dicts of the same columns, defaults not applied: give every
    value) into ``table`` in the session's transaction."""
    if not rows:
        return
    names = list(rows[0])
    for row in rows:
        if len(row) != len(names) or any(name not in row for name in names):
            raise ValueError(f"{table.name}: every row must give the same columns {names}")
    dialect = session.connection().dialect
    if dialect.name != "postgresql":
        for k in range(0, len(rows), batch):
            session.execute(insert(table), rows[k : k + batch])
        return
    columns = [table.c[name] for name in names]
    processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    arrays = ", ".join(
        f"CAST(:{name} AS {c.type.compile(dialect=dialect)}[])"
        for name, c in zip(names, columns, strict=True)
    )
    quoted = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    statement = text(
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({quoted}) "
        f"SELECT * FROM unnest({arrays})"
    )
    for k in range(0, len(rows), batch):
        chunk = rows[k : k + batch]
        params = {}
        for name, process in zip(names, processors, strict=True):
            values = [row[name] for row in chunk]
            params[name] = values if process is None else [process(v) for v in values]
        session.execute(statement, params)

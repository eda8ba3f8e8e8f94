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
policies check every row as they do for any insert. A string column's array is
``TEXT[]`` (an explicit cast to ``VARCHAR(n)`` would cut a long value where an
insert refuses it: the insert's own assignment checks the length). What psycopg
adapts as one array is what a column may hold here: values of one Python type (or
None) per column; array columns are refused. SQLite, the embedded default, takes the
ordinary executemany.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Dialect, Table, TypeDecorator, insert, text
from sqlalchemy import types as sqltypes
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
    # Bind parameters by position (p0, p1...): a column's name need not be one.
    arrays = ", ".join(
        f"CAST(:p{k} AS {_element_type(c, dialect)}[])" for k, c in enumerate(columns)
    )
    quoted = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    statement = text(
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({quoted}) "
        f"SELECT * FROM unnest({arrays})"
    )
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        params = {}
        for k, (name, process) in enumerate(zip(names, processors, strict=True)):
            values = [row[name] for row in chunk]
            params[f"p{k}"] = values if process is None else [process(v) for v in values]
        session.execute(statement, params)


def _element_type(column: Column[Any], dialect: Dialect) -> str:
    """The SQL type of one element of a column's array (see the module)."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, sqltypes.ARRAY):
        raise ValueError(f"{column.table.name}.{column.name}: array columns are not supported")
    if isinstance(kind, sqltypes.String) and not isinstance(kind, sqltypes.Enum):
        return "TEXT"
    return kind.compile(dialect=dialect)

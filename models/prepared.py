"""Selects every request runs, compiled once and sent straight to the driver.

A statement through ``Session.execute`` costs the web process about 0.38 ms of CPU on
PostgreSQL; the same SQL on the psycopg cursor about 0.07 (``benchmarks/README.md``,
Load). Each request runs at least one such select (authentication) and most reads
one or two more, so the few built once and run on every request go through a
:class:`PreparedSelect`: compiled once per dialect, with the tenant guard's criteria
in it, and run on the session's own connection, in its transaction.

What it keeps of the ordinary path:

* **The tenant guard.** The statement is compiled with the guard's option
  (:func:`models.tenant_guard.with_guard`), the criteria the guard adds to an ORM select
  of a tenant table; its parameter takes the session's scope. A session not scoped to
  an organization (unscoped, ``REQUIRED``, ``SYSTEM``) runs the statement the ordinary
  way, so the guard refuses or lets it through exactly as it would.
* **The transaction and its setting.** The statement runs on ``session.connection()``,
  which begins the transaction (and sets the row-level security setting) first.
* **Errors.** A driver error becomes SQLAlchemy's :class:`~sqlalchemy.exc.DBAPIError`;
  on a lost connection SQLAlchemy itself raises it, invalidating the connection and
  the pool's older ones as it does, so the fault handling of :mod:`api.faults` (503,
  the retry of a read) and the pool see what they would see.
* **Autoflush.** Pending changes of the session are flushed first, as
  ``Session.execute`` does.
* **Types and instrumentation.** Bind and result processors of the statement's types
  run; ``before_cursor_execute`` listeners see each statement (tests count them), with
  no execution context (``None``) and their return value ignored; no other engine
  event fires and ``echo`` logs nothing of it.

SQLite, the embedded default, and any PostgreSQL driver but psycopg take the ordinary
path: the cursor's paramstyle, types and errors here are psycopg's.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, MultipleResultsFound
from sqlalchemy.orm import Session

from models.tenant_guard import GUARD_PARAMETER, REQUIRED, SCOPE, SYSTEM, with_guard


class _Compiled:
    """A statement's SQL for one dialect, its parameters' defaults and processors."""

    def __init__(self, statement: Select[*tuple[Any, ...]], dialect: Dialect) -> None:
        compiled = with_guard(statement).compile(dialect=dialect)
        if compiled.positional:
            raise ValueError(f"{dialect.name}: a positional paramstyle is not supported")
        self.sql = str(compiled)
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        if any(bind.expanding for bind in binds.values()):
            raise ValueError("an expanding parameter (IN) is not supported")
        self.guarded = GUARD_PARAMETER in binds
        self.processors: dict[str, Callable[[Any], Any]] = {}
        self.defaults: dict[str, Any] = {}
        for name, bind in binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:
                if process is not None:
                    self.processors[name] = process
            else:  # a literal of the statement: processed once
                self.defaults[name] = bind.value if process is None else process(bind.value)
        self.dialect = dialect
        columns = list(statement.selected_columns)
        self.types = [c.type.dialect_impl(dialect) for c in columns]
        self.names = tuple(getattr(c, "name", None) for c in columns)
        #: Per result description (names, type codes): the row type and the columns'
        #: result processors (None: no column has one).
        self.results: dict[tuple[Any, ...], tuple[Any, list[Any] | None]] = {}

    def result(self, description: Sequence[Any]) -> tuple[Any, list[Any] | None]:
        """The row type and result processors of rows of this ``description``, made
        once. Processors apply when the result's columns are the statement's, by name:
        a textual column list (``k.*``) leaves the values as the driver's."""
        key = tuple((column[0], column[1]) for column in description)
        found = self.results.get(key)
        if found is None:
            row_type = namedtuple("Row", [name for name, _ in key])  # type: ignore[misc]
            processors: list[Any] | None = None
            if self.names == tuple(name for name, _ in key):
                processors = [
                    t.result_processor(self.dialect, code)
                    for t, (_, code) in zip(self.types, key, strict=True)
                ]
            found = self.results[key] = (row_type, processors if any(processors or ()) else None)
        return found

    def parameters(self, given: Mapping[str, Any]) -> dict[str, Any]:
        out = {**self.defaults, **given}
        for name, process in self.processors.items():
            if name in out:
                out[name] = process(out[name])
        return out


class PreparedSelect:
    """A select run often: :meth:`all` and :meth:`one_or_none` return rows with the
    columns as attributes and ``_asdict()`` (SQLAlchemy rows on the ordinary path,
    named tuples on the driver's)."""

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def all(self, session: Session, params: Mapping[str, Any]) -> Sequence[Any]:
        bound = session.get_bind().dialect
        if bound.name != "postgresql" or bound.driver != "psycopg":
            return session.execute(self.statement, params).all()
        if session.autoflush:
            session.flush()  # as Session.execute's autoflush (nothing to do: a quick check)
        connection = session.connection()  # begins the transaction, the setting included
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _Compiled(self.statement, dialect)
        scope = session.info.get(SCOPE)
        if compiled.guarded:
            if scope is None or scope in (SYSTEM, REQUIRED):
                # The guard decides (refuses a tenant query before scoping, or lets
                # cross-organization maintenance through): the ordinary path.
                return session.execute(self.statement, params).all()
            params = {**params, GUARD_PARAMETER: scope}
        parameters = compiled.parameters(params)
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None  # a live connection: session.connection()
        cursor = dbapi_connection.cursor()
        try:
            if connection.dispatch.before_cursor_execute:
                connection.dispatch.before_cursor_execute(
                    connection, cursor, compiled.sql, parameters, None, False
                )
            cursor.execute(compiled.sql, parameters)
            raw = cursor.fetchall()
            row_type, processors = compiled.result(cursor.description or ())
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, cursor):
                # SQLAlchemy's own handling of a lost connection: the statement again,
                # its way, on the same dead connection, fails with the DBAPIError it
                # raises after invalidating the connection and the pool's older ones.
                connection.exec_driver_sql(compiled.sql, parameters)
            raise DBAPIError.instance(
                compiled.sql,
                parameters,
                error,
                dialect.loaded_dbapi.Error,
                hide_parameters=True,
                connection_invalidated=connection.invalidated,
                dialect=dialect,
            ) from error
        except BaseException as interrupted:
            if not isinstance(interrupted, Exception):  # KeyboardInterrupt, SystemExit...
                connection.invalidate(interrupted)  # mid-protocol: as SQLAlchemy does
            raise
        finally:
            cursor.close()
        make = row_type._make
        if processors is None:
            return [make(values) for values in raw]
        return [
            make([v if p is None else p(v) for p, v in zip(processors, values, strict=True)])
            for values in raw
        ]

    def one_or_none(self, session: Session, params: Mapping[str, Any]) -> Any:
        rows = self.all(session, params)
        if len(rows) > 1:
            raise MultipleResultsFound("more than one row where one or none was expected")
        return rows[0] if rows else None

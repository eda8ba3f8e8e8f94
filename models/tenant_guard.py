"""Tenancy in depth: a session scoped to one organization sees only that organization.

Every query of the service layer filters on its organization already (``get_owned``,
the eligibility queries). This module is the net under them, so that a forgotten
filter cannot leak another organization's rows:

* **The ORM guard.** A session whose ``info[SCOPE]`` holds an organization id gets
  ``organization_id = <that id>`` added to every ORM SELECT, UPDATE and DELETE on a
  tenant table (every mapped table with an ``organization_id`` column), joined and
  aliased ones included, lazy loads and ``session.get`` included
  (``do_orm_execute`` + ``with_loader_criteria``); a flush that would write a row of
  another organization is refused. Not guarded: an ORM bulk UPDATE by primary key (a
  list of parameter sets), which SQLAlchemy runs without loader criteria; its one
  caller takes the keys from a guarded query. Requests scope their session once the API key is
  authenticated (``api.auth``), jobs for their run's or export's organization.
* **PostgreSQL row-level security** (migration 0008). Each transaction of a scoped
  session starts with ``set_config('mentormatch.organization_id', <id>, true)``;
  the policies on every tenant table let the application's role
  (``mentormatch_app``, which owns no table) see and write only the rows of that
  organization. An unset (or empty) setting means **no rows**: a code path that
  forgot to scope sees nothing rather than everything.
* **The explicit opt-out.** Cross-organization maintenance (authentication, which
  looks the key up before the organization is known; expiring stale runs and
  exports; the retention purge; the CLI's check of every audit chain; creating an
  organization) runs inside ``with unguarded(session):``, which lifts the ORM guard
  and sets the PostgreSQL setting to ``'system'``, the one value the policies let
  see every row. ``grep -rn "unguarded("`` lists every such place. On PostgreSQL
  the request's key lookup reads through ``mentormatch_api_key()`` instead (migration
  0012: a function that sets ``'system'`` for its query and puts the setting back),
  one round trip.

A session with nothing in ``info[SCOPE]`` is unguarded by omission: tests and
tools that build their own sessions keep working on SQLite and as the PostgreSQL
superuser, but as the application role such a session sees no tenant row.
:func:`require_scope` turns the omission into an error: the sessions of a request
and of the CLI start that way, so a tenant query before scoping raises
:class:`TenantScopeError`. SQLite has no row-level security; the ORM guard is the
whole defense there.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    Select,
    Text,
    bindparam,
    cast,
    event,
    func,
    text,
)
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from sqlalchemy.orm import (
    Mapper,
    ORMExecuteState,
    Session,
    SessionTransaction,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.orm.interfaces import ORMOption

from models.base import Base, OrganizationOwned

#: The ``Session.info`` key of the scope: an organization id, :data:`SYSTEM` or
#: :data:`REQUIRED`.
SCOPE = "organization_id"
#: The explicit opt-out (:func:`unguarded`); also the PostgreSQL setting's value for it.
SYSTEM = "system"
#: Not scoped yet, and tenant queries are refused until it is (:func:`require_scope`).
REQUIRED = "required"
#: The per-transaction PostgreSQL setting the row-level security policies read.
SETTING = "mentormatch.organization_id"
_SET_CONFIG = text(f"SELECT set_config('{SETTING}', :value, true)")


class TenantScopeError(RuntimeError):
    """A tenant query in a session that must be scoped first, or a write of a row of
    another organization than the session's: a bug, never a client error."""


@cache
def tenant_mappers() -> tuple[Mapper[Any], ...]:
    """The mapped classes whose table has an ``organization_id`` column."""
    return tuple(m for m in Base.registry.mappers if "organization_id" in m.local_table.c)


def scope_session(session: Session, organization_id: uuid.UUID) -> Session:
    """Guard ``session`` for ``organization_id`` from now on (the current transaction
    included) and return it."""
    _set_scope(session, organization_id)
    return session


def scope_column(organization_id: ColumnExpressionArgument[Any]) -> ColumnElement[Any]:
    """A select-list expression (PostgreSQL) that scopes the current transaction to the
    organization ``organization_id`` holds, as the statement reads its row.

    For the one statement that finds the organization (authentication): scoping then
    costs no round trip of its own. The row filters of that statement still see the
    setting it started with. Once the row is read, :func:`scoped_by_statement` tells
    the session; a statement that reads several rows must not use it (each row would
    set the setting again).
    """
    return func.set_config(SETTING, cast(organization_id, Text), True).label("scoped_to")


def scoped_by_statement(session: Session, organization_id: uuid.UUID) -> Session:
    """:func:`scope_session` for a session whose current transaction a
    :func:`scope_column` statement has just scoped to ``organization_id``: the same
    guard, with nothing sent."""
    session.info[SCOPE] = organization_id
    return session


def resend_scope(session: Session) -> None:
    """Set the current PostgreSQL transaction's setting to the session's scope again:
    after a :func:`scope_column` statement whose row the caller did not accept (a
    refused API key), so that the transaction sees what the session's scope lets it."""
    if session.in_transaction() and session.get_bind().dialect.name == "postgresql":
        session.connection().execute(_SET_CONFIG, {"value": _setting(session.info.get(SCOPE))})


def require_scope(session: Session) -> Session:
    """Refuse tenant queries on ``session`` until it is scoped or explicitly unguarded."""
    _set_scope(session, REQUIRED)
    return session


@contextmanager
def unguarded(session: Session) -> Iterator[Session]:
    """Cross-organization maintenance: inside the block, no ORM guard, and PostgreSQL's
    policies let every row through (``'system'``). The scope before is restored after."""
    previous = session.info.get(SCOPE)
    _set_scope(session, SYSTEM)
    try:
        yield session
    except BaseException:
        _restore(session, previous)
        raise
    _set_scope(session, previous)


@contextmanager
def unguarded_until_scoped(session: Session) -> Iterator[Session]:
    """:func:`unguarded` for a block that finds the organization and scopes ``session``
    to it (authentication: the key decides the organization).

    The same as ``with unguarded(session): ...`` then :func:`scope_session`, with one
    change of the PostgreSQL setting fewer (no restore in between). If the block raises,
    or ends without scoping the session, the scope before is restored.
    """
    previous = session.info.get(SCOPE)
    _set_scope(session, SYSTEM)
    try:
        yield session
    except BaseException:
        _restore(session, previous)
        raise
    if session.info.get(SCOPE) == SYSTEM:
        _set_scope(session, previous)


def _restore(session: Session, previous: uuid.UUID | str | None) -> None:
    """Put the scope before back while an error leaves the block.

    If the database refuses the setting, the error aborted the transaction: PostgreSQL
    runs nothing more in it until the rollback, and the next transaction takes the
    restored scope from the session (:func:`_set_transaction_setting`). So the error
    that left the block goes on, not "current transaction is aborted".
    """
    with suppress(DBAPIError, PendingRollbackError):  # a failed flush: the same
        _set_scope(session, previous)


def scoped_factory(
    session_factory: Callable[[], Session], organization_id: uuid.UUID
) -> Callable[[], Session]:
    """Sessions of ``session_factory`` scoped to ``organization_id`` (a job's sessions)."""

    def make() -> Session:
        return scope_session(session_factory(), organization_id)

    return make


def required_factory(session_factory: Callable[[], Session]) -> Callable[[], Session]:
    """Sessions of ``session_factory`` that refuse tenant queries until scoped."""

    def make() -> Session:
        return require_scope(session_factory())

    return make


def install(factory: sessionmaker[Session]) -> None:
    """Listen on the sessions of ``factory`` (``models.db.make_session_factory`` does)."""
    event.listen(factory, "do_orm_execute", _filter_statement)
    event.listen(factory, "after_begin", _set_transaction_setting)
    event.listen(factory, "before_flush", _check_writes)


def _set_scope(session: Session, scope: uuid.UUID | str | None) -> None:
    previous = session.info.get(SCOPE)
    if scope is None:
        session.info.pop(SCOPE, None)
    else:
        session.info[SCOPE] = scope
    # The setting is per transaction: a transaction already under way takes the new
    # scope now (unless it already has that value: a round trip saved); the next ones
    # get it from _set_transaction_setting.
    if _setting(scope) == _setting(previous):
        return
    if session.in_transaction() and session.get_bind().dialect.name == "postgresql":
        session.connection().execute(_SET_CONFIG, {"value": _setting(scope)})


def _setting(scope: object) -> str:
    if scope is None or scope == REQUIRED:
        return ""  # unset: the policies show no row
    return str(scope)


def _set_transaction_setting(
    session: Session, _transaction: SessionTransaction, connection: Any
) -> None:
    scope = session.info.get(SCOPE)
    if scope is not None and scope != REQUIRED and connection.dialect.name == "postgresql":
        connection.execute(_SET_CONFIG, {"value": _setting(scope)})


#: The bound parameter the guard's criterion compares ``organization_id`` with; its
#: value is the session's scope, added to each statement's parameters.
GUARD_PARAMETER = "mentormatch_guard_organization_id"

#: One option for every tenant table (their mixin, :class:`OrganizationOwned`), built
#: once: a statement's cache key and compilation walk one option, not one per table.
#: A lambda, so that the criterion is rebuilt for each entity and each alias of it (a
#: match's mentee and mentor are two aliases of Participant). It closes over nothing:
#: the organization is a named parameter, so SQLAlchemy neither re-runs the lambda to
#: extract its value at each execution nor builds an option per organization. Not
#: propagated to the lazy loads of the objects it loaded: those run through
#: :func:`_filter_statement` too, and get the session's scope at that time.
_CRITERIA = with_loader_criteria(
    OrganizationOwned,
    # The name written out: SQLAlchemy would track a global as a closure variable.
    lambda cls: cls.organization_id == bindparam("mentormatch_guard_organization_id"),
    include_aliases=True,
    propagate_to_loaders=False,
)


def with_guard(statement: Select[Any]) -> Select[Any]:
    """``statement`` with the criteria the guard adds to a SELECT in a scoped session
    (:func:`_filter_statement`), for a statement compiled ahead of its execution
    (:mod:`models.prepared`): its :data:`GUARD_PARAMETER` takes the session's scope."""
    return statement.options(_CRITERIA)


@lru_cache(maxsize=1024)
def _dml_criteria(organization_id: uuid.UUID) -> ORMOption:
    """:data:`_CRITERIA` for UPDATE and DELETE, the organization closed over (its value
    is in the criterion, as SQLAlchemy's synchronization of loaded objects needs);
    one option per organization, built once per process."""
    return with_loader_criteria(
        OrganizationOwned, lambda cls: cls.organization_id == organization_id, include_aliases=True
    )


def _filter_statement(state: ORMExecuteState) -> None:
    scope = state.session.info.get(SCOPE)
    if scope is None or scope == SYSTEM:
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return  # inserts: _check_writes, and the policies' WITH CHECK on PostgreSQL
    if scope == REQUIRED:
        tenant = set(tenant_mappers())
        touched = [m.class_.__name__ for m in state.all_mappers if m in tenant]
        if touched:
            raise TenantScopeError(
                f"a query on {', '.join(touched)} in a session not scoped to an "
                "organization: call scope_session() first, or unguarded() for "
                "cross-organization maintenance"
            )
        return
    params = state.parameters
    bulk = isinstance(params, Sequence) and not isinstance(params, Mapping) and bool(params)
    if bulk and state.is_update:
        # A list of parameter sets: an ORM bulk UPDATE by primary key, which takes no
        # loader criteria (nor WHERE criteria, with the identity map synchronized).
        # The caller picks the rows by primary key from a guarded query; on
        # PostgreSQL the row-level security policies still hold.
        return
    if state.is_update or state.is_delete:
        # The organization in the criterion itself: SQLAlchemy evaluates an UPDATE's or
        # DELETE's criteria against the objects loaded in the session to synchronize
        # them, and a bound parameter without its value would match none.
        state.statement = state.statement.options(_dml_criteria(scope))
        return
    state.statement = state.statement.options(_CRITERIA)
    if bulk:  # several parameter sets for one SELECT: each gets the organization
        rows: Sequence[Mapping[str, Any]] = params  # type: ignore[assignment]
        state.parameters = [{**row, GUARD_PARAMETER: scope} for row in rows]
    else:
        given: Mapping[str, Any] = params if isinstance(params, Mapping) else {}
        state.parameters = {**given, GUARD_PARAMETER: scope}


def _check_writes(session: Session, _context: Any, _instances: Any) -> None:
    scope = session.info.get(SCOPE)
    if scope is None or scope == SYSTEM:
        return
    tenant = tuple(m.class_ for m in tenant_mappers())
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, tenant) and obj.organization_id != scope:
            raise TenantScopeError(
                f"writing a {type(obj).__name__} of organization {obj.organization_id} "
                f"in a session scoped to {scope}"
            )

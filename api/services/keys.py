"""API keys: issue (shown once), authenticate, revoke. Only hashes are stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Uuid, bindparam, func, literal_column, select, text, update
from sqlalchemy.orm import Session

from api.services.context import Actor
from api.services.errors import KeyRefused, Unauthorized
from models import Admin, ApiKey, Organization
from models.prepared import PreparedSelect
from models.tenant_guard import (
    resend_scope,
    scope_column,
    scope_session,
    scoped_by_statement,
    unguarded,
    unguarded_until_scoped,
)

PREFIX = "mm"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key(session: Session, admin: Admin) -> str:
    """Add a new key for ``admin`` to the session and return its plaintext (shown once)."""
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        id=uuid.uuid4(),
        organization_id=admin.organization_id,
        admin_id=admin.id,
        secret_hash=_hash(secret),
    )
    session.add(key)
    return f"{PREFIX}_{key.id.hex}_{secret}"


#: What authentication reads of a key, its admin and organization: columns, not ORM
#: objects, and built once (every request runs it).
_KEY_LOOKUP = (
    select(
        ApiKey.secret_hash,
        ApiKey.revoked_at.label("key_revoked_at"),
        Admin.id.label("admin_id"),
        Admin.organization_id,
        Admin.role,
        Admin.revoked_at.label("admin_revoked_at"),
        Organization.deleted_at.label("organization_deleted_at"),
    )
    .join(Admin, Admin.id == ApiKey.admin_id)
    .join(Organization, Organization.id == Admin.organization_id)
    .where(ApiKey.id == bindparam("key_id"))
)


#: The same lookup on PostgreSQL, through the function of migration 0012 (which reads
#: past the tenant policies for its query only), scoping the transaction to the key's
#: organization as it reads the row: one statement, one round trip
#: (:func:`authenticate_and_scope`).
_KEY_LOOKUP_SCOPING = PreparedSelect(
    select(text("k.*"), scope_column(literal_column("k.organization_id"))).select_from(
        func.mentormatch_api_key(bindparam("key_id", type_=Uuid())).alias("k")
    )
)


def authenticate(session: Session, token: str) -> Actor:
    """The actor a bearer token stands for; :class:`Unauthorized` for anything else."""
    key_id, secret = _parse(token)
    # The key decides the organization, so it is looked up before there is one to
    # scope to.
    with unguarded(session):
        row = session.execute(_KEY_LOOKUP, {"key_id": key_id}).first()
    return _actor(key_id, secret, row)


def authenticate_and_scope(session: Session, token: str) -> Actor:
    """:func:`authenticate`, then scope ``session`` to the key's organization for the
    rest of the request (a request's path: :mod:`api.auth`).

    On PostgreSQL the lookup is one statement: a function that reads past the tenant
    policies for its own run (migration 0012) and the scoping of the transaction to
    the key's organization as the row is read (:func:`models.tenant_guard.scope_column`),
    so authentication costs one round trip. A refused key leaves the session and the
    transaction's setting as they were.
    """
    key_id, secret = _parse(token)
    if session.get_bind().dialect.name != "postgresql":
        with unguarded_until_scoped(session):
            actor = _actor(key_id, secret, session.execute(_KEY_LOOKUP, {"key_id": key_id}).first())
            scope_session(session, actor.organization_id)
        return actor
    row = _KEY_LOOKUP_SCOPING.one_or_none(session, {"key_id": key_id})
    try:
        actor = _actor(key_id, secret, row)
    except KeyRefused:
        if row is not None:  # the statement scoped the transaction to the key's organization
            resend_scope(session)
        raise
    scoped_by_statement(session, actor.organization_id)
    return actor


def _parse(token: str) -> tuple[uuid.UUID, str]:
    """The key id and secret of a well-formed token; :class:`Unauthorized` otherwise."""
    prefix, _, rest = token.partition("_")
    key_hex, _, secret = rest.partition("_")
    try:
        key_id = uuid.UUID(hex=key_hex)
    except ValueError:
        key_id = None
    if prefix != PREFIX or key_id is None or not secret:
        raise Unauthorized("malformed API key")
    return key_id, secret


def _actor(key_id: uuid.UUID, secret: str, row: Any) -> Actor:
    """The actor of the key ``key_id`` by its looked-up ``row`` (None: no such key)."""
    # Compare even when the key is unknown so that timing does not tell ids apart.
    expected = row.secret_hash if row else _hash("")
    if not hmac.compare_digest(expected, _hash(secret)) or row is None:
        raise KeyRefused("invalid API key")
    if row.key_revoked_at is not None or row.admin_revoked_at is not None:
        raise KeyRefused("API key revoked")
    if row.organization_deleted_at is not None:  # offboarding: whatever key was issued since
        raise KeyRefused("API key revoked: the organization was deleted")
    return Actor(row.organization_id, row.admin_id, row.role, key_id)


def revoke_key(session: Session, key_id: uuid.UUID) -> bool:
    """Revoke one key unless it already is: a conditional UPDATE, so of two concurrent
    revocations of one key exactly one returns True."""
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    return bool(cast(CursorResult[Any], result).rowcount)


def revoke_keys(session: Session, admin: Admin) -> int:
    now = datetime.now(UTC)
    keys = session.scalars(
        select(ApiKey).where(ApiKey.admin_id == admin.id, ApiKey.revoked_at.is_(None))
    ).all()
    for key in keys:
        key.revoked_at = now
    return len(keys)

"""Keyset pagination over (created_at, id): stable under inserts, opaque to clients."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Integer, Select, and_, bindparam, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.services.errors import ValidationFailed
from models.prepared import PreparedSelect

T = TypeVar("T")
MAX_LIMIT = 1000
#: Longer than any cursor issued (a base64 ``[timestamp, uuid]``): refused unread.
MAX_CURSOR = 512


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def _encode(created_at: datetime, ident: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(ident)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) a cursor holds; any other content is a ValidationFailed."""
    bad = ValidationFailed({"cursor": [f"not a cursor this API issued: {cursor[:120]!r}"]})
    if len(cursor) > MAX_CURSOR:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
        # Check the decoded shape before use: uuid.UUID(5) raises AttributeError, not ValueError.
        if not (
            isinstance(decoded, list)
            and len(decoded) == 2
            and all(isinstance(part, str) and len(part) <= 64 for part in decoded)
        ):
            raise bad
        stamp = datetime.fromisoformat(decoded[0])
        ident = uuid.UUID(decoded[1])
        if stamp.tzinfo is None:
            raise bad  # the API only issues timezone-aware stamps
        stamp = stamp.astimezone(UTC)  # as the database compares it; year 1-14:00 overflows
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise bad from exc
    return stamp, ident


@dataclass(frozen=True)
class _Pages:
    """The first page's and a later page's select of a statement paged often."""

    first: PreparedSelect
    after: PreparedSelect


#: The statements registered by :func:`often_paged`, with their pages' selects.
_OFTEN_PAGED: dict[Select[Any], _Pages] = {}


def often_paged(
    stmt: Select[Any], created_col: InstrumentedAttribute[Any], id_col: InstrumentedAttribute[Any]
) -> Select[Any]:
    """Register ``stmt``, a select of columns built once (at import) and paged by every
    request of a list, and return it: :func:`paginate` then runs its pages as
    :class:`~models.prepared.PreparedSelect` s, compiled once (the cursor and the limit
    are parameters), rather than building and caching a statement per page."""
    ordered = (created_col, id_col)
    limit = bindparam("page_limit", type_=Integer)
    after = or_(
        created_col > bindparam("cursor_at"),
        and_(created_col == bindparam("cursor_at"), id_col > bindparam("cursor_id")),
    )
    _OFTEN_PAGED[stmt] = _Pages(
        PreparedSelect(stmt.order_by(*ordered).limit(limit)),
        PreparedSelect(stmt.where(after).order_by(*ordered).limit(limit)),
    )
    return stmt


def paginate(
    session: Session,
    stmt: Select[Any],
    created_col: InstrumentedAttribute[Any],
    id_col: InstrumentedAttribute[Any],
    *,
    limit: int,
    cursor: str | None,
    params: Mapping[str, Any] | None = None,
) -> Page[Any]:
    """One page of ``stmt`` ordered by (created_at, id).

    ``stmt`` selects one entity (the page holds its objects) or columns among which
    ``created_col`` and ``id_col`` (the page holds the Core rows: a read that builds no
    ORM object per row). ``params`` are the values of its ``bindparam`` s (a statement
    built once, at import). A statement registered by :func:`often_paged` gives rows
    with the columns as attributes (:class:`~models.prepared.PreparedSelect`).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed({"limit": [f"must be between 1 and {MAX_LIMIT}, got {limit}"]})
    pages = _OFTEN_PAGED.get(stmt)
    if pages is not None:
        given = {**(params or {}), "page_limit": limit + 1}
        if cursor:
            stamp, ident = _decode(cursor)
            rows = list(pages.after.all(session, {**given, "cursor_at": stamp, "cursor_id": ident}))
        else:
            rows = list(pages.first.all(session, given))
    else:
        if cursor:
            stamp, ident = _decode(cursor)
            stmt = stmt.where(or_(created_col > stamp, and_(created_col == stamp, id_col > ident)))
        result = session.execute(stmt.order_by(created_col, id_col).limit(limit + 1), params)
        rows = list(result.scalars() if len(result.keys()) == 1 else result)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode(getattr(last, created_col.key), getattr(last, id_col.key))
    return Page(rows, next_cursor)

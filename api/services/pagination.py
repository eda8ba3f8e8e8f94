"""Keyset pagination over (created_at, id): stable under inserts, opaque to clients."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.services.errors import ValidationFailed

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
    built once, at import).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed({"limit": [f"must be between 1 and {MAX_LIMIT}, got {limit}"]})
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

"""Keyset pagination over (created_at, id): stable under inserts, opaque to clients."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.services.errors import ValidationFailed

T = TypeVar("T")
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def _encode(created_at: datetime, ident: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(ident)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, ident = json.loads(raw)
        return datetime.fromisoformat(stamp), uuid.UUID(ident)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed({"cursor": [f"not a cursor this API issued: {cursor!r}"]}) from exc


def paginate(
    session: Session,
    stmt: Select[Any],
    created_col: InstrumentedAttribute[Any],
    id_col: InstrumentedAttribute[Any],
    *,
    limit: int,
    cursor: str | None,
) -> Page[Any]:
    """One page of ``stmt`` (which selects one entity) ordered by (created_at, id)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed({"limit": [f"must be between 1 and {MAX_LIMIT}, got {limit}"]})
    if cursor:
        stamp, ident = _decode(cursor)
        stmt = stmt.where(or_(created_col > stamp, and_(created_col == stamp, id_col > ident)))
    rows = list(session.scalars(stmt.order_by(created_col, id_col).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode(getattr(last, created_col.key), getattr(last, id_col.key))
    return Page(rows, next_cursor)

"""The audit log: append an event in the caller's transaction, list it, verify its chain.

Each organization's events form a SHA-256 hash chain: an event's hash covers the
previous event's hash and the event's own canonical content, so editing, deleting or
reordering any row is detected by :func:`verify`. Events hold ids, never personal data.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.services.context import Actor
from api.services.errors import ValidationFailed
from api.services.pagination import MAX_LIMIT, Page
from models import AuditEvent, Organization

GENESIS = "0" * 64


def _plain(value: Any) -> Any:
    """``value`` as it reads back from any backend's JSON column.

    PostgreSQL's JSONB keeps numbers as decimals, so a float with an integral value
    may come back as an int (``1e20`` -> ``100000000000000000000``); hashing integral
    floats as ints makes the hash survive that round trip. Key order is settled by
    ``sort_keys``.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _canonical(event: AuditEvent) -> bytes:
    created = event.created_at
    if created.tzinfo is None:  # SQLite hands back naive datetimes; they were stored in UTC
        created = created.replace(tzinfo=UTC)
    body = {
        "organization_id": str(event.organization_id),
        "seq": event.seq,
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "action": event.action,
        "program_id": str(event.program_id) if event.program_id else None,
        "target_type": event.target_type,
        "target_ids": [str(t) for t in event.target_ids],
        "details": _plain(event.details),
        "created_at": created.astimezone(UTC).isoformat(timespec="microseconds"),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(event)).hexdigest()


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    program_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_ids: Iterable[uuid.UUID | str] = (),
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the actor's organization chain, in the caller's transaction.

    The organization row's ``audit_seq`` is bumped with a single UPDATE first: that
    row lock serializes concurrent writers of one organization, so the chain never forks.
    """
    seq, prev = session.execute(
        update(Organization)
        .where(Organization.id == actor.organization_id)
        .values(audit_seq=Organization.audit_seq + 1)
        .returning(Organization.audit_seq, Organization.audit_head)
    ).one()
    event = AuditEvent(
        id=uuid.uuid4(),
        organization_id=actor.organization_id,
        seq=seq,
        actor_id=actor.admin_id,
        action=action,
        program_id=program_id,
        target_type=target_type,
        target_ids=[str(t) for t in target_ids],
        details=details or {},
        created_at=datetime.now(UTC),
        prev_hash=prev,
    )
    event.hash = chain_hash(prev, event)
    session.add(event)
    session.execute(
        update(Organization)
        .where(Organization.id == actor.organization_id)
        .values(audit_head=event.hash)
    )
    return event


@dataclass(frozen=True)
class ChainReport:
    valid: bool
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None


def verify(session: Session, organization_id: uuid.UUID, *, batch: int = 5000) -> ChainReport:
    """Walk the organization's chain in order and report the first break, if any."""
    org = session.get(Organization, organization_id)
    if org is None:
        return ChainReport(False, 0, None, "organization not found")
    prev, expected_seq, count = GENESIS, 1, 0
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.organization_id == organization_id)
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=batch)
    )
    events = session.scalars(stmt)
    try:  # a streamed (server-side) cursor: close it even when stopping early
        for event in events:
            count += 1
            if event.seq != expected_seq:
                return ChainReport(False, count, expected_seq, f"event {expected_seq} is missing")
            if event.prev_hash != prev:
                return ChainReport(False, count, event.seq, "link to the previous event is broken")
            if chain_hash(prev, event) != event.hash:
                return ChainReport(False, count, event.seq, "content does not match its hash")
            prev, expected_seq = event.hash, expected_seq + 1
    finally:
        events.close()
    if org.audit_seq != count or org.audit_head != prev:
        return ChainReport(False, count, count + 1, "newest events are missing")
    return ChainReport(True, count)


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


#: One past the largest ``seq`` a cursor may hold: the column is a 32-bit INTEGER on
#: PostgreSQL, which refuses a larger parameter (SQLite stops at 2**63).
_MAX_SEQ = 2**31


def _decode_cursor(cursor: str) -> int:
    """The ``seq`` a cursor holds: ``0 <= seq < 2**31``, else ValidationFailed."""
    bad = ValidationFailed({"cursor": [f"not a cursor this API issued: {cursor[:120]!r}"]})
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "seq" or not value.isascii() or not value.isdigit() or len(value) > 12:
            raise bad
        seq = int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad from exc
    if not 0 <= seq < _MAX_SEQ:
        raise bad
    return seq


def list_events(
    session: Session,
    actor: Actor,
    *,
    program_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
    order: str = "asc",
) -> Page[AuditEvent]:
    """The organization's events matching every filter given, in chain order (by ``seq``).

    ``since`` is inclusive and ``until`` exclusive; ``order="desc"`` lists newest first;
    the cursor is the last ``seq`` seen.
    """
    if order not in ("asc", "desc"):
        raise ValidationFailed({"order": [f"must be asc or desc, got {order!r}"]})
    newest_first = order == "desc"
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed({"limit": [f"must be between 1 and {MAX_LIMIT}, got {limit}"]})
    if since is not None and until is not None and since >= until:
        raise ValidationFailed({"until": ["must be after since"]})
    stmt = select(AuditEvent).where(AuditEvent.organization_id == actor.organization_id)
    if program_id is not None:
        stmt = stmt.where(AuditEvent.program_id == program_id)
    if actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    if since is not None:
        stmt = stmt.where(AuditEvent.created_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.created_at < until)
    if cursor:
        after = _decode_cursor(cursor)
        stmt = stmt.where(AuditEvent.seq < after if newest_first else AuditEvent.seq > after)
    by_seq = AuditEvent.seq.desc() if newest_first else AuditEvent.seq.asc()
    rows = list(session.scalars(stmt.order_by(by_seq).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _encode_cursor(rows[-1].seq)
    return Page(rows, next_cursor)


def verify_organization(session: Session, actor: Actor) -> ChainReport:
    """The chain check of the actor's own organization."""
    return verify(session, actor.organization_id)


def organization_ids(session: Session) -> list[uuid.UUID]:
    """Every organization, for the CLI's check of all chains."""
    return list(session.scalars(select(Organization.id).order_by(Organization.created_at)))

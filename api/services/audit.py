"""The audit log: append an event in the caller's transaction, list it, verify its chain.

Each organization's events form a hash chain: an event's hash covers the previous
event's hash and the event's own canonical content, so editing, deleting or reordering
any row is detected by :func:`verify`. Events hold ids, never personal data.

What each guarantee covers, and what it does not:

- **Keyed chain** (scheme 2): each hash is an HMAC-SHA-256 with the service's audit
  key (``MENTORMATCH_AUDIT_KEY``, kept out of the database). Someone with database
  access but not the key cannot edit, drop or reorder events and recompute the chain:
  it no longer verifies. Someone holding the key can. Rows written before the keyed
  scheme (scheme 1, plain SHA-256) verify as before; the organization's *seal* (an
  HMAC of where its keyed chain starts, set by :func:`seal_all` at start-up or by its
  next event) fixes that boundary, so old rows cannot be re-labelled or rewritten as
  plain ones. Before the seal, the old rows are as (un)protected as they always were.
- **Append-only table** (PostgreSQL): triggers refuse UPDATE, DELETE and TRUNCATE of
  ``audit_events``. A superuser can still disable triggers; the chain then tells.
- **Outside anchor**: deleting the newest events and rewinding the organization's
  head leaves a shorter chain that verifies on its own. :func:`signed_head` gives a
  head ``(seq, head, time)`` signed with the key, to keep outside the service;
  :func:`verify` with ``since_head`` proves the chain still contains that head and
  extends it. It covers everything up to the newest saved head, not what came after.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from api.services.context import Actor
from api.services.errors import ValidationFailed
from api.services.pagination import MAX_LIMIT, Page
from models import AuditEvent, Organization
from models.tenant_guard import SCOPE, SYSTEM, TenantScopeError

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
    if event.scheme != PLAIN:  # scheme 1 rows hash as they always did
        body["scheme"] = event.scheme
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


#: The hash schemes of :attr:`AuditEvent.scheme`.
PLAIN, KEYED = 1, 2


def audit_key(session: Session) -> bytes:
    """The audit key the session factory was built with (``Session.info``)."""
    key = session.info.get("audit_key")
    if not isinstance(key, bytes) or not key:
        # Never fall back to an unkeyed chain: every factory of the service passes one.
        raise RuntimeError("this session has no audit key (make_session_factory(info=...))")
    return key


def chain_hash(prev_hash: str, event: AuditEvent, key: bytes | None = None) -> str:
    """The event's hash by its scheme: plain SHA-256 (1) or HMAC-SHA-256 with ``key`` (2)."""
    message = prev_hash.encode() + _canonical(event)
    if event.scheme == PLAIN:
        return hashlib.sha256(message).hexdigest()
    if key is None:
        raise ValueError("a keyed event needs the audit key")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


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
    key = audit_key(session)
    seq, prev, seal = session.execute(
        update(Organization)
        .where(Organization.id == actor.organization_id)
        .values(audit_seq=Organization.audit_seq + 1)
        .returning(Organization.audit_seq, Organization.audit_head, Organization.audit_seal)
    ).one()
    event = _event(
        key, actor, seq, prev, action, program_id, target_type, target_ids, details or {}
    )
    session.add(event)
    session.execute(
        update(Organization)
        .where(Organization.id == actor.organization_id)
        .values(audit_head=event.hash, **_sealing(key, actor.organization_id, seq, seal))
    )
    return event


_ORGANIZATIONS = cast(Table, Organization.__table__)
_EVENTS = cast(Table, AuditEvent.__table__)
#: :func:`append`'s statements, built once. They run on the session's connection,
#: past the ORM guard, which has nothing to add to them: ``organizations`` has no
#: tenant column, and an insert is only checked when flushed (append checks itself;
#: on PostgreSQL the row-level security of ``audit_events`` checks it too).
_NEXT_SEQ = (
    update(_ORGANIZATIONS)
    .where(_ORGANIZATIONS.c.id == bindparam("organization_id"))
    .values(audit_seq=_ORGANIZATIONS.c.audit_seq + 1)
    .returning(_ORGANIZATIONS.c.audit_seq, _ORGANIZATIONS.c.audit_head, _ORGANIZATIONS.c.audit_seal)
)
_INSERT_EVENT = insert(_EVENTS)
_SET_HEAD = (
    update(_ORGANIZATIONS)
    .where(_ORGANIZATIONS.c.id == bindparam("organization_id"))
    .values(audit_head=bindparam("audit_head"))
)


def append(
    session: Session,
    actor: Actor,
    action: str,
    *,
    program_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_ids: Iterable[uuid.UUID | str] = (),
    details: dict[str, Any] | None = None,
) -> None:
    """:func:`record` for a hot write path: the same event, chain and row lock, written
    with Core statements built once (no ORM object, no unit of work, no statement
    built per call: the outcome check-in's audit entry went from ~1.5 ms of CPU to ~0.4).

    The event is not returned nor put in the session, and an ``Organization`` the
    session holds keeps its old ``audit_seq``/``audit_head``: use :func:`record` when
    the caller reads either afterwards. Pending ORM changes are flushed first, as the
    autoflush of :func:`record` does, so they still reach the database before the lock;
    a session scoped to another organization is refused, as the tenant guard refuses
    :func:`record`'s event when it is flushed.
    """
    key = audit_key(session)
    org = actor.organization_id
    scope = session.info.get(SCOPE)
    if scope is not None and scope != SYSTEM and scope != org:
        # What the guard's flush check refuses for record's ORM event: bypassed here.
        raise TenantScopeError(
            f"writing an audit event of organization {org} in a session scoped to {scope}"
        )
    session.flush()
    connection = session.connection()
    seq, prev, seal = connection.execute(_NEXT_SEQ, {"organization_id": org}).one()
    event = _event(
        key, actor, seq, prev, action, program_id, target_type, target_ids, details or {}
    )
    connection.execute(_INSERT_EVENT, {c.key: getattr(event, c.key) for c in _EVENTS.c})
    sealing = _sealing(key, org, seq, seal)  # once per organization: build that one
    connection.execute(
        _SET_HEAD.values(**sealing) if sealing else _SET_HEAD,
        {"organization_id": org, "audit_head": event.hash},
    )


def _event(
    key: bytes,
    actor: Actor,
    seq: int,
    prev: str,
    action: str,
    program_id: uuid.UUID | None,
    target_type: str | None,
    target_ids: Iterable[uuid.UUID | str],
    details: dict[str, Any],
) -> AuditEvent:
    """The event ``seq`` of the actor's chain after ``prev``, hashed (keyed scheme)."""
    event = AuditEvent(
        id=uuid.uuid4(),
        organization_id=actor.organization_id,
        seq=seq,
        actor_id=actor.admin_id,
        action=action,
        program_id=program_id,
        target_type=target_type,
        target_ids=[str(t) for t in target_ids],
        details=details,
        created_at=datetime.now(UTC),
        prev_hash=prev,
        scheme=KEYED,
    )
    event.hash = chain_hash(prev, event, key)
    return event


def _sealing(key: bytes, organization_id: uuid.UUID, seq: int, seal: str | None) -> dict[str, Any]:
    """The seal columns to set with the head: none once sealed; else the keyed chain
    starts at this event ``seq``."""
    if seal:
        return {}
    return {"audit_keyed_from": seq, "audit_seal": _seal(key, organization_id, seq)}


@dataclass(frozen=True)
class ChainReport:
    valid: bool
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None
    #: Events of the plain (unkeyed) scheme 1 at the start of the chain.
    unkeyed: int = 0
    #: The saved head checked (``since_head``), when one was given.
    since_seq: int | None = None


@dataclass(frozen=True)
class SignedHead:
    seq: int
    head: str
    time: datetime
    signature: str

    @property
    def anchor(self) -> str:
        """The head as one string, for ``verify?since_head=``."""
        return f"{self.seq}.{self.head}.{_stamp(self.time)}.{self.signature}"


def _stamp(time: datetime) -> str:
    """A URL-safe UTC time for anchors (an ISO offset's ``+`` is a space in a query)."""
    return time.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _seal(key: bytes, organization_id: uuid.UUID, keyed_from: int) -> str:
    message = f"mentormatch-audit-seal|{organization_id}|{keyed_from}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def seal_all(session: Session) -> int:
    """Seal every organization not sealed yet (written before the keyed scheme): its
    keyed chain starts after its current newest event. Run at start-up; one conditional
    UPDATE each, so concurrent starts and writers never seal one twice. Commits."""
    key, sealed = audit_key(session), 0
    for org_id, seq in session.execute(
        select(Organization.id, Organization.audit_seq).where(Organization.audit_seal.is_(None))
    ).all():
        result = session.execute(
            update(Organization)
            .where(
                Organization.id == org_id,
                Organization.audit_seal.is_(None),
                Organization.audit_seq == seq,
            )
            .values(audit_keyed_from=seq + 1, audit_seal=_seal(key, org_id, seq + 1))
        )
        sealed += cast(CursorResult[Any], result).rowcount
    session.commit()
    return sealed


def _signature(key: bytes, organization_id: uuid.UUID, seq: int, head: str, time: str) -> str:
    message = f"mentormatch-audit-head|{organization_id}|{seq}|{head}|{time}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_head(session: Session, actor: Actor) -> SignedHead:
    """The organization's chain head now, signed with the audit key: keep it outside."""
    org = session.get(Organization, actor.organization_id)
    assert org is not None  # the actor's key proved it exists
    time = datetime.now(UTC).replace(microsecond=0)
    sig = _signature(audit_key(session), org.id, org.audit_seq, org.audit_head, _stamp(time))
    return SignedHead(org.audit_seq, org.audit_head, time, sig)


def _saved_head(session: Session, organization_id: uuid.UUID, anchor: str) -> tuple[int, str]:
    """``(seq, head)`` of an anchor :func:`signed_head` gave this organization, else 422."""
    bad = ValidationFailed(
        {"since_head": ["not a head this organization was given by GET /v1/audit/head"]}
    )
    seq_text, _, rest = anchor.partition(".")
    head, _, rest = rest.partition(".")
    time, _, signature = rest.rpartition(".")
    if not (seq_text.isascii() and seq_text.isdigit() and len(seq_text) <= 12):
        raise bad
    expected = _signature(audit_key(session), organization_id, int(seq_text), head, time)
    if not hmac.compare_digest(expected, signature):
        raise bad
    return int(seq_text), head


def verify(
    session: Session,
    organization_id: uuid.UUID,
    *,
    batch: int = 5000,
    since_head: str | None = None,
) -> ChainReport:
    """Walk the organization's chain in order and report the first break, if any.

    With ``since_head`` (an anchor of :func:`signed_head`), the chain must also still
    hold that head at its ``seq``: a chain cut back below it, or rebuilt, is broken.
    """
    org = session.get(Organization, organization_id)
    if org is None:
        return ChainReport(False, 0, None, "organization not found")
    saved = _saved_head(session, organization_id, since_head) if since_head else None
    since = saved[0] if saved else None
    key = audit_key(session)
    prev, expected_seq, count, unkeyed = GENESIS, 1, 0, 0
    keyed_from = org.audit_keyed_from
    if keyed_from is None or org.audit_seal is None:
        return ChainReport(False, 0, None, "the chain is not sealed with the audit key")
    if not hmac.compare_digest(_seal(key, org.id, keyed_from), org.audit_seal):
        return ChainReport(False, 0, None, "the chain's seal does not match the audit key")
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.organization_id == organization_id)
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=batch)
    )
    events = session.scalars(stmt)

    def broken(seq: int | None, problem: str) -> ChainReport:
        return ChainReport(False, count, seq, problem, unkeyed, since)

    try:  # a streamed (server-side) cursor: close it even when stopping early
        for event in events:
            count += 1
            if event.seq != expected_seq:
                return broken(expected_seq, f"event {expected_seq} is missing")
            if event.prev_hash != prev:
                return broken(event.seq, "link to the previous event is broken")
            # Plain before the sealed boundary, keyed from it on: no downgrade.
            if event.scheme != (KEYED if event.seq >= keyed_from else PLAIN):
                return broken(event.seq, "hash scheme does not match the chain's seal")
            unkeyed += event.scheme == PLAIN
            if not hmac.compare_digest(chain_hash(prev, event, key), event.hash):
                return broken(event.seq, "content does not match its hash")
            if saved is not None and event.seq == saved[0] and event.hash != saved[1]:
                return broken(event.seq, "the saved head is no longer in the chain")
            prev, expected_seq = event.hash, expected_seq + 1
    finally:
        events.close()
    if org.audit_seq != count or org.audit_head != prev:
        return broken(count + 1, "newest events are missing")
    if saved is not None and saved[0] > count:
        return broken(count + 1, f"the chain ends before the saved head (seq {saved[0]})")
    return ChainReport(True, count, None, None, unkeyed, since)


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


def verify_organization(
    session: Session, actor: Actor, *, since_head: str | None = None
) -> ChainReport:
    """The chain check of the actor's own organization (extending a saved head, if given)."""
    return verify(session, actor.organization_id, since_head=since_head)


def organization_ids(session: Session) -> list[uuid.UUID]:
    """Every organization, for the CLI's check of all chains."""
    return list(session.scalars(select(Organization.id).order_by(Organization.created_at)))

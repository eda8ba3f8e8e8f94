"""Participants of a program: create, bulk upsert (JSON or CSV), list, read, correct.

A bulk upload is all or nothing: every row is checked first and any problem answers
one ValidationFailed listing them (up to :data:`MAX_ERRORS`), with nothing written.
Rows are matched to stored participants by ``external_id``: a known one is updated
with the values the row gives (the others stay), an unknown one is created. The
writes are two statements whatever the size: one multi-row INSERT, one UPDATE by key.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.services import audit, sides
from api.services.context import Actor
from api.services.errors import Conflict, NotFound
from api.services.lookup import (
    PROFILE_COLUMNS,
    config_of,
    get_participant,
    get_program,
    in_live_program,
    profile,
    values_of,
)
from api.services.pagination import Page, often_paged, paginate
from api.services.participants_csv import column_of, parse_csv
from api.services.participants_validation import (
    KEYS,
    MAX_ERRORS,
    ErrorLog,
    check_participant,
    fields_by_key,
    first_seen,
    id_key,
)
from models import Participant, Program
from models.prepared import PreparedSelect
from scoring.positions import PositionRule

__all__ = [
    "MAX_ERRORS",
    "ImportResult",
    "create_participant",
    "get",
    "import_csv",
    "list_participants",
    "public",
    "update_participant",
    "upload",
    "upsert_participants",
]

_CHUNK = 500  # external ids per IN (...) lookup: far under every backend's parameter limit


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    ids: list[uuid.UUID]  # one per uploaded row, in upload order


#: The columns :func:`public` reads (and the organization, which a reader may check):
#: the GET of one participant and of a page select these with Core, so that a response
#: builds no ORM object (loading them was a fifth of a page's CPU).
PUBLIC_COLUMNS = (
    Participant.id,
    Participant.organization_id,
    Participant.role,
    *PROFILE_COLUMNS,
    Participant.created_at,
    Participant.updated_at,
)

#: The organization's participants of a live program, as :func:`public` reads them:
#: built once (a statement costs about as much to build as to run from the cache).
#: The organization is named here and again by the tenant guard, which covers Core
#: selects of ORM columns too (``tests/services/test_reads_fast.py`` checks both).
_PUBLIC_IN_PROGRAM = often_paged(
    in_live_program(
        select(*PUBLIC_COLUMNS).where(Participant.organization_id == bindparam("organization_id")),
        Participant.program_id,
        bindparam("program_id"),
    ),
    Participant.created_at,
    Participant.id,
)
_PUBLIC_ONE = PreparedSelect(
    _PUBLIC_IN_PROGRAM.where(Participant.id == bindparam("participant_id"))
)
#: What :func:`public` shows besides the profile, in the order it unpacks them.
_OWN_KEYS = ("id", "role", "created_at", "updated_at", "erased_at")
_OBJECT_OWN, _ROW_OWN = attrgetter(*_OWN_KEYS), itemgetter(*_OWN_KEYS)


def public(participant: Participant | Row[Any]) -> dict[str, Any]:
    """A participant as the API shows it (erased ones read as "Anonymous user").

    ``participant`` is a loaded ``Participant`` or a Core row of :data:`PUBLIC_COLUMNS`.
    """
    ident, role, created_at, updated_at, erased_at = values_of(participant, _OBJECT_OWN, _ROW_OWN)
    return {
        "id": ident,
        "role": role,
        **profile(participant),
        "created_at": created_at,
        "updated_at": updated_at,
        "erased_at": erased_at,
    }


def _stored(participant: Participant, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The stored values in check_participant's shape; attributes of dropped fields go."""
    values = {key: getattr(participant, key) for key in KEYS}
    values["attributes"] = {k: v for k, v in (participant.attributes or {}).items() if k in fields}
    return values


def _live_program(
    session: Session, actor: Actor, program_id: uuid.UUID
) -> tuple[Program, Any, PositionRule]:
    program = get_program(session, actor, program_id)
    config = config_of(session, program)
    return program, fields_by_key(config), PositionRule(config)


@contextmanager
def _external_ids_unique(session: Session, what: str, external_id: str | None) -> Iterator[None]:
    """Writes under ``uq (program_id, external_id)``: a concurrent writer that took the
    same external id first (the check before found it free) makes this a Conflict."""
    try:
        yield
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            f"{what}: external_id {external_id!r} was taken in this program meanwhile"
        ) from None


class _Collided(Exception):
    """A bulk upsert met rows a concurrent upload created first (see :func:`_retried`)."""


#: Attempts of one bulk upsert that keeps colliding with concurrent uploads.
_ATTEMPTS = 3


def _retried(session: Session, write: Callable[[], ImportResult]) -> ImportResult:
    """Run a bulk upsert, again if a concurrent upload created some of its new external
    ids first: the retry finds those rows and updates them, as if it had come second,
    which is what an upsert means."""
    for _ in range(_ATTEMPTS):
        try:
            return write()
        except _Collided:
            session.rollback()
    raise Conflict("upload not saved: concurrent uploads kept creating the same external_ids")


def _raise_any(problems: Iterable[tuple[str, str]]) -> None:
    log = ErrorLog()
    log.extend("", problems)
    log.raise_if_any()


def _taken(session: Session, program_id: uuid.UUID, external_id: str | None) -> bool:
    if external_id is None:
        return False
    found = session.scalar(
        select(Participant.id).where(
            Participant.program_id == program_id, Participant.external_id == external_id
        )
    )
    return found is not None


def create_participant(
    session: Session, actor: Actor, program_id: uuid.UUID, data: Mapping[str, Any]
) -> Participant:
    """Create one participant; an external_id already in the program is a Conflict."""
    program, fields, positions = _live_program(session, actor, program_id)
    clean, problems = check_participant(data, fields, positions=positions)
    _raise_any(problems)
    if _taken(session, program.id, clean["external_id"]):
        raise Conflict(
            f"a participant with external_id {clean['external_id']!r} already exists; "
            "PATCH it, or upload {'items': [...]} to upsert"
        )
    participant = Participant(
        id=uuid.uuid4(), organization_id=actor.organization_id, program_id=program.id, **clean
    )
    with _external_ids_unique(session, "participant not created", clean["external_id"]):
        session.add(participant)
        session.flush()
        audit.record(
            session,
            actor,
            "participant.created",
            program_id=program.id,
            target_type="participant",
            target_ids=[participant.id],
        )
    return participant


def upsert_participants(
    session: Session, actor: Actor, program_id: uuid.UUID, items: Sequence[Mapping[str, Any]]
) -> ImportResult:
    """Bulk upsert by external_id; errors are keyed ``items.<index>.<field>``."""
    program, fields, positions = _live_program(session, actor, program_id)
    rows = [(f"items.{i}.", dict(item)) for i, item in enumerate(items)]
    return _retried(
        session,
        lambda: _upsert(
            session,
            actor,
            program,
            fields,
            rows,
            positions=positions,
            log=ErrorLog(),
            path=lambda prefix, p: prefix + p,
            source="json",
            merge_attributes=False,
        ),
    )


def import_csv(session: Session, actor: Actor, program_id: uuid.UUID, data: bytes) -> ImportResult:
    """Bulk upsert from a CSV upload; errors are keyed ``row <N>.<column>`` (header = row 1)."""
    program, fields, positions = _live_program(session, actor, program_id)
    log = ErrorLog()
    parsed = parse_csv(data, fields, log=log)
    rows = [(f"row {r.row}.", r.data) for r in parsed]
    return _retried(
        session,
        lambda: _upsert(
            session,
            actor,
            program,
            fields,
            rows,
            positions=positions,
            log=log,
            path=lambda prefix, p: prefix + column_of(p),
            source="csv",
            merge_attributes=True,
        ),
    )


def _existing(
    session: Session, program_id: uuid.UUID, external_ids: Iterable[str]
) -> dict[str, Participant]:
    wanted = sorted(set(external_ids))
    found: dict[str, Participant] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        for p in session.scalars(
            select(Participant).where(
                Participant.program_id == program_id, Participant.external_id.in_(chunk)
            )
        ):
            found[p.external_id or ""] = p
    return found


def _upsert(
    session: Session,
    actor: Actor,
    program: Program,
    fields: Mapping[str, Any],
    rows: list[tuple[str, dict[str, Any]]],
    *,
    positions: PositionRule,
    log: ErrorLog,
    path: Callable[[str, str], str],
    source: str,
    merge_attributes: bool,
) -> ImportResult:
    existing = _existing(session, program.id, first_seen(rows, log=log, path=path))
    resided: list[tuple[uuid.UUID, dict[str, Any]]] = []  # role or capacity changes

    now = datetime.now(UTC)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    ids: list[uuid.UUID] = []
    unchanged = 0
    for prefix, data in rows:
        key = id_key(data.get("external_id"))
        current = existing.get(key) if key is not None else None
        stored: dict[str, Any] = {}
        if current is None:
            clean, problems = check_participant(data, fields, positions=positions)
        else:
            stored = _stored(current, fields)
            given = dict(data)
            if merge_attributes and "attributes" in given:
                given["attributes"] = {**stored["attributes"], **given["attributes"]}
            clean, problems = check_participant({**stored, **given}, fields, positions=positions)
        log.extend(prefix, ((path("", p), m) for p, m in problems))
        if problems or log.total:
            continue  # once anything is wrong, only more problems are worth collecting
        if current is None:
            ident = uuid.uuid4()
            # Microsecond steps keep an upload's rows listed in upload order.
            stamp = now + timedelta(microseconds=len(inserts))
            inserts.append(
                {
                    "id": ident,
                    "organization_id": actor.organization_id,
                    "program_id": program.id,
                    **clean,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            )
        else:
            ident = current.id
            if clean == stored:
                unchanged += 1
            else:
                updates.append({"id": ident, **clean, "updated_at": now})
                if (clean["role"], clean["capacity"]) != (stored["role"], stored["capacity"]):
                    resided.append((ident, clean))
        ids.append(ident)
    log.raise_if_any()
    sides.check_changes(session, config_of(session, program), resided)

    result = ImportResult(len(inserts), len(updates), unchanged, ids)
    try:
        if inserts:
            # render_nulls: one executemany; else rows group by which values are None.
            session.execute(insert(Participant).execution_options(render_nulls=True), inserts)
        if updates:
            session.execute(update(Participant), updates)
        audit.record(
            session,
            actor,
            "participants.imported",
            program_id=program.id,
            target_type="program",
            target_ids=[program.id],
            details={
                "source": source,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
            },
        )
        session.commit()
    except IntegrityError as exc:  # uq (program_id, external_id): created concurrently
        raise _Collided from exc
    return result


def upload(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    *,
    item: Mapping[str, Any] | None = None,
    items: Sequence[Mapping[str, Any]] | None = None,
    csv: bytes | None = None,
) -> Participant | ImportResult:
    """The participants POST: one ``item``, bulk ``items``, or a ``csv`` upload."""
    if csv is not None:
        return import_csv(session, actor, program_id, csv)
    if items is not None:
        return upsert_participants(session, actor, program_id, items)
    if item is None:
        raise TypeError("upload() needs item, items or csv")
    return create_participant(session, actor, program_id, item)


def list_participants(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    *,
    role: str | None = None,
    active: bool | None = None,
    limit: int,
    cursor: str | None = None,
) -> Page[Row[Any]]:
    """A program's participants in creation (upload) order, optionally by role and
    activity: rows of :data:`PUBLIC_COLUMNS`."""
    stmt = _PUBLIC_IN_PROGRAM
    if role is not None:
        stmt = stmt.where(Participant.role == role)
    if active is not None:
        stmt = stmt.where(Participant.active.is_(active))
    page = paginate(
        session,
        stmt,
        Participant.created_at,
        Participant.id,
        limit=limit,
        cursor=cursor,
        params={"organization_id": actor.organization_id, "program_id": program_id},
    )
    if not page.items:
        get_program(session, actor, program_id)  # none, or no such program?
    return page


def get(session: Session, actor: Actor, program_id: uuid.UUID, participant_id: uuid.UUID) -> Any:
    """One participant of a live program of the actor's organization, a row of
    :data:`PUBLIC_COLUMNS`; NotFound for the program if it is the one missing (as
    :func:`~api.services.lookup.get_participant`, which loads the ORM object)."""
    row = _PUBLIC_ONE.one_or_none(
        session,
        {
            "organization_id": actor.organization_id,
            "program_id": program_id,
            "participant_id": participant_id,
        },
    )
    if row is None:
        get_program(session, actor, program_id)
        raise NotFound("participant", participant_id)
    return row


def update_participant(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    participant_id: uuid.UUID,
    changes: Mapping[str, Any],
) -> Participant:
    """Correct a participant: the given values replace the stored ones, then all is rechecked."""
    participant = get_participant(session, actor, program_id, participant_id)
    if participant.erased_at is not None:
        raise Conflict("this participant was erased; its data can no longer be changed")
    config = config_of(session, get_program(session, actor, program_id))
    fields = fields_by_key(config)
    stored = _stored(participant, fields)
    clean, problems = check_participant(
        {**stored, **changes}, fields, positions=PositionRule(config)
    )
    _raise_any(problems)
    changed = [key for key in KEYS if clean[key] != stored[key]]
    if "external_id" in changed and _taken(session, program_id, clean["external_id"]):
        raise Conflict(f"external_id {clean['external_id']!r} is taken in this program")
    if {"role", "capacity"} & set(changed):
        sides.check_changes(session, config, [(participant.id, clean)])
    if not changed:
        return participant
    with _external_ids_unique(session, "participant not changed", clean["external_id"]):
        for key in changed:
            setattr(participant, key, clean[key])
        audit.record(
            session,
            actor,
            "participant.updated",
            program_id=program_id,
            target_type="participant",
            target_ids=[participant.id],
            details={"fields": changed},
        )
    return participant

"""What an export holds: an organization's data, or everything about one participant.

- :func:`organization_data` (``GET /v1/export``, ``mentormatch export``): every table
  of the organization as lists of plain rows (JSON-ready values), keyed by table:
  the organization, its admins, its API keys without their hashes, programs, every
  configuration version, participants (through
  :func:`~api.services.lookup.profile`: an erased one reads "Anonymous user"),
  runs, matches, the unmatched, outcomes, weights versions and the audit log.
  Programs deleted and awaiting their purge are left out with their rows, as the
  rest of the API leaves them out. :mod:`api.services.export_files` renders it as
  JSON or as a zip of CSVs; :mod:`api.services.export_jobs` decides when a job
  builds it.
- :func:`participant_data` (``GET .../participants/{id}/export``, the right of
  access): the profile, every match with its score, breakdown and reasons, their
  outcomes, the runs that left them unmatched, and the audit events naming them or
  one of their matches by id. Audited as ``participant.exported``.

Rows are read with Core ``select(table)`` (every column, no ORM objects), so a
column added to a model appears in the export without touching this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, Table, cast, func, or_, select
from sqlalchemy.orm import Session

from api.services import audit
from api.services.context import Actor
from api.services.lookup import PROFILE_COLUMNS, get_participant, profile
from api.services.match_views import views
from api.services.participants import public
from models import (
    Admin,
    ApiKey,
    AuditEvent,
    Match,
    Organization,
    Outcome,
    Participant,
    Program,
    ProgramConfig,
    Run,
    UnmatchedMentee,
    WeightsVersion,
)

#: The tables of an organization export, in the order files and keys appear.
TABLES = (
    "organization",
    "admins",
    "api_keys",
    "programs",
    "program_configs",
    "participants",
    "runs",
    "matches",
    "unmatched_mentees",
    "outcomes",
    "weights_versions",
    "audit_events",
)
#: Columns never exported: secrets, and the participant columns :func:`profile` decides.
_HIDDEN = {
    "api_keys": {"secret_hash"},
    "participants": {c.key for c in PROFILE_COLUMNS} - {"active", "erased_at"},
}


def plain(value: Any) -> Any:
    """A column value as JSON holds it: ids and times as strings, bytes left out."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


def _rows(
    session: Session, name: str, model: type[Any], where: Iterable[ColumnElement[bool]]
) -> list[dict[str, Any]]:
    table = _table(model)
    hidden = _HIDDEN.get(name, set())
    columns = [c for c in table.c if c.key not in hidden]
    order = [table.c.seq] if name == "audit_events" else [table.c.id]
    if "created_at" in table.c and name != "audit_events":
        order = [table.c.created_at, table.c.id]
    result = session.execute(select(*columns).where(*where).order_by(*order))
    return [{key: plain(value) for key, value in row._mapping.items()} for row in result]


def _live_programs(organization_id: uuid.UUID) -> Any:
    return select(Program.id).where(
        Program.organization_id == organization_id, Program.deleted_at.is_(None)
    )


def _scopes(organization_id: uuid.UUID) -> dict[str, tuple[type[Any], list[Any]]]:
    """Each exported table's model and filter: the organization's rows of live programs."""
    org = organization_id
    live = _live_programs(org)
    live_runs = select(Run.id).where(Run.organization_id == org, Run.program_id.in_(live))
    live_matches = select(Match.id).where(Match.organization_id == org, Match.program_id.in_(live))
    return {
        "organization": (Organization, [Organization.id == org]),
        "admins": (Admin, [Admin.organization_id == org]),
        "api_keys": (ApiKey, [ApiKey.organization_id == org]),
        "programs": (Program, [Program.organization_id == org, Program.deleted_at.is_(None)]),
        "program_configs": (
            ProgramConfig,
            [ProgramConfig.organization_id == org, ProgramConfig.program_id.in_(live)],
        ),
        "participants": (
            Participant,
            [Participant.organization_id == org, Participant.program_id.in_(live)],
        ),
        "runs": (Run, [Run.organization_id == org, Run.program_id.in_(live)]),
        "matches": (Match, [Match.organization_id == org, Match.program_id.in_(live)]),
        "unmatched_mentees": (
            UnmatchedMentee,
            [UnmatchedMentee.organization_id == org, UnmatchedMentee.run_id.in_(live_runs)],
        ),
        "outcomes": (
            Outcome,
            [Outcome.organization_id == org, Outcome.match_id.in_(live_matches)],
        ),
        "weights_versions": (
            WeightsVersion,
            [WeightsVersion.organization_id == org, WeightsVersion.program_id.in_(live)],
        ),
        "audit_events": (AuditEvent, [AuditEvent.organization_id == org]),
    }


def count_rows(session: Session, organization_id: uuid.UUID) -> int:
    """How many rows an organization export holds: what decides whether a job builds it."""
    total = 0
    for model, where in _scopes(organization_id).values():
        total += session.scalar(select(func.count()).select_from(_table(model)).where(*where)) or 0
    return total


def organization_data(session: Session, organization_id: uuid.UUID) -> dict[str, Any]:
    """Every exported table of the organization: ``{table: [row, ...]}`` in :data:`TABLES`
    order; participants as :func:`~api.services.lookup.profile` shows them."""
    data = {
        name: _rows(session, name, model, where)
        for name, (model, where) in _scopes(organization_id).items()
    }
    shown = {
        row.id: profile(row)
        for row in session.execute(
            select(Participant.id, *PROFILE_COLUMNS).where(
                *_scopes(organization_id)["participants"][1]
            )
        )
    }
    data["participants"] = [
        {**row, **plain(shown[uuid.UUID(row["id"])])} for row in data["participants"]
    ]
    return {name: data[name] for name in TABLES}


def organization_document(data: dict[str, Any]) -> dict[str, Any]:
    """The JSON export: the tables of :func:`organization_data`, each program carrying
    its configuration versions (``configs``, oldest first)."""
    configs: dict[str, list[dict[str, Any]]] = {}
    for row in data["program_configs"]:
        configs.setdefault(row["program_id"], []).append(row)
    for versions in configs.values():
        versions.sort(key=lambda r: r["version"])
    document = {name: rows for name, rows in data.items() if name != "program_configs"}
    document["organization"] = data["organization"][0] if data["organization"] else None
    document["programs"] = [
        {**program, "configs": configs.get(program["id"], [])} for program in data["programs"]
    ]
    return document


def participant_data(
    session: Session, actor: Actor, program_id: uuid.UUID, participant_id: uuid.UUID
) -> dict[str, Any]:
    """Everything held about one participant (the right of access); audited, commits."""
    person = get_participant(session, actor, program_id, participant_id)
    matches = list(
        session.scalars(
            select(Match)
            .where(or_(Match.mentee_id == person.id, Match.mentor_id == person.id))
            .order_by(Match.created_at, Match.id)
        )
    )
    shown = views(session, matches)
    outcomes = _rows(session, "outcomes", Outcome, [Outcome.match_id.in_([m.id for m in matches])])
    by_match: dict[str, list[dict[str, Any]]] = {}
    for outcome in outcomes:
        by_match.setdefault(outcome["match_id"], []).append(outcome)
    unmatched = _rows(
        session, "unmatched_mentees", UnmatchedMentee, [UnmatchedMentee.mentee_id == person.id]
    )
    # Events naming them, or one of their matches, by id (events hold ids only).
    idents = [str(person.id), *(str(m.id) for m in matches)]
    named = _rows(
        session,
        "audit_events",
        AuditEvent,
        [
            AuditEvent.organization_id == actor.organization_id,
            or_(
                *(cast(AuditEvent.target_ids, String).contains(i) for i in idents),
                *(cast(AuditEvent.details, String).contains(i) for i in idents),
            ),
        ],
    )
    document = {
        "participant": plain({**public(person), "program_id": person.program_id}),
        "matches": [{**plain(m), "outcomes": by_match.get(str(m["id"]), [])} for m in shown],
        "unmatched": unmatched,
        "audit_events": named,
    }
    audit.record(
        session,
        actor,
        "participant.exported",
        program_id=program_id,
        target_type="participant",
        target_ids=[person.id],
        details={"matches": len(matches), "audit_events": len(named)},
    )
    session.commit()
    return document

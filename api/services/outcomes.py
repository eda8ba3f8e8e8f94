"""Realized outcomes of matches: record a check-in, list a match's records.

A published (ongoing) or ended match may get any number of outcome records over time
(check-ins); all are kept, and the latest one is the match's realized success when
the program learns (:mod:`api.services.learning`). Records hold counts and ratings
only, never the content of communications; the audit entry holds ids only.

The request schema checks each field's type and range; here the rules that need the
match or more than one field: the match's status, at least one field, and
``goals_completed`` at most ``goals_total`` within one record.
"""

from __future__ import annotations

import math
import uuid
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, insert, select
from sqlalchemy.orm import Session

import scoring
from api.services import audit
from api.services.context import Actor
from api.services.errors import Conflict, NotFound, ValidationFailed
from api.services.lookup import config_of, live_match
from api.services.pagination import Page, paginate
from models import Match, Outcome, Program, ProgramConfig
from models.base import utcnow
from models.prepared import PreparedSelect
from models.vocabulary import MatchStatus
from scoring.outcomes import OUTCOME_FIELDS

#: A match whose pair really met: only these have outcomes.
RECORDABLE = (MatchStatus.PUBLISHED, MatchStatus.ENDED)

_INSERT_OUTCOME = insert(cast(Table, Outcome.__table__))

#: The match ``:match_id`` of ``:organization_id`` whose program is live, with the
#: program's current configuration (outer-joined: None when that version is missing).
#: Built on the ORM entities, so that the tenant guard narrows it as well.
_RECORDABLE_MATCH = PreparedSelect(
    select(
        Match.organization_id,
        Match.program_id,
        Match.status,
        Program.config_version,
        ProgramConfig.config,
    )
    .join(Program, Program.id == Match.program_id)
    .outerjoin(
        ProgramConfig,
        and_(
            ProgramConfig.program_id == Program.id,
            ProgramConfig.version == Program.config_version,
        ),
    )
    .where(
        Match.id == bindparam("match_id"),
        Match.organization_id == bindparam("organization_id"),
        Program.deleted_at.is_(None),
    )
)


def record_outcome(
    session: Session,
    actor: Actor,
    match_id: uuid.UUID,
    *,
    meetings: int | None = None,
    messages: int | None = None,
    goals_completed: int | None = None,
    goals_total: int | None = None,
    milestones: int | None = None,
    mentor_rating: int | None = None,
    mentee_rating: int | None = None,
    ended_early: bool | None = None,
    ended_reason: str | None = None,
) -> dict[str, Any]:
    """Record one outcome of a published or ended match; returns it with its success.

    At least one field is given. Raises :class:`Conflict` for a match only proposed
    or rejected, and :class:`ValidationFailed` naming the field for an empty record
    or more goals completed than set.

    A check-in is a hot write path, so it is written with few, cheap statements: one
    SELECT reads the match, checks its program is live and fetches the program's
    current configuration (what :func:`live_match` and :func:`_success_params` read in
    four); the record is a Core INSERT and the audit entry :func:`audit.append`.
    """
    fields = {
        "meetings": meetings,
        "messages": messages,
        "goals_completed": goals_completed,
        "goals_total": goals_total,
        "milestones": milestones,
        "mentor_rating": mentor_rating,
        "mentee_rating": mentee_rating,
        "ended_early": ended_early,
        "ended_reason": ended_reason,
    }
    match = _RECORDABLE_MATCH.one_or_none(
        session, {"match_id": match_id, "organization_id": actor.organization_id}
    )
    if match is None:
        raise NotFound("match", match_id)
    if all(value is None for value in fields.values()):
        raise ValidationFailed(
            {"_schema": [f"give at least one of: {', '.join(OUTCOME_FIELDS)}"]},
            detail="an outcome record needs at least one field",
        )
    if match.status not in RECORDABLE:
        raise Conflict(
            f"match {match_id} is {match.status}: outcomes are recorded for published "
            "or ended matches only"
        )
    if goals_completed is not None and goals_total is not None and goals_completed > goals_total:
        raise ValidationFailed(
            {
                "goals_completed": [
                    f"must be at most goals_total ({goals_total}), got {goals_completed}"
                ]
            }
        )
    if match.config is None:  # as config_of: the program's current version is missing
        raise NotFound("program configuration version", match.config_version)
    record = {
        "id": uuid.uuid4(),
        "organization_id": match.organization_id,
        "match_id": match_id,
        **fields,
        "recorded_by": actor.admin_id,
        "recorded_at": utcnow(),
    }
    # Every column always: one compiled INSERT whatever fields are given. On the
    # session's connection: the ORM guard never narrows an insert (PostgreSQL's
    # row-level security checks it), and the session's machinery costs more than it.
    session.connection().execute(_INSERT_OUTCOME, record)
    # Ids only: an end reason is free text and may name people.
    audit.append(
        session,
        actor,
        "outcome.recorded",
        program_id=match.program_id,
        target_type="match",
        target_ids=[match_id],
        details={"outcome_id": str(record["id"])},
    )
    params: dict[str, Any] | None = match.config.get("success")
    session.commit()
    return _view(record, params)


def list_outcomes(
    session: Session,
    actor: Actor,
    match_id: uuid.UUID,
    *,
    limit: int = 100,
    cursor: str | None = None,
) -> Page[dict[str, Any]]:
    """A match's outcome records, oldest first, each with its success."""
    match = live_match(session, actor, match_id)
    stmt = select(Outcome).where(Outcome.match_id == match.id)
    page = paginate(session, stmt, Outcome.recorded_at, Outcome.id, limit=limit, cursor=cursor)
    params = _success_params(session, match)
    return Page([view(o, params) for o in page.items], page.next_cursor)


def _success_params(session: Session, match: Match) -> dict[str, Any] | None:
    """The ``config.success`` of the match's program (its current configuration)."""
    program = session.get(Program, match.program_id)
    assert program is not None  # live_match checked it
    success: dict[str, Any] | None = config_of(session, program).get("success")
    return success


def fields_of(outcome: Outcome) -> dict[str, Any]:
    """The outcome fields of a record, as :mod:`scoring.success` reads them."""
    return {name: getattr(outcome, name) for name in OUTCOME_FIELDS}


def view(outcome: Outcome, params: dict[str, Any] | None) -> dict[str, Any]:
    """The API's view of an outcome record; ``success`` is null when nothing scores."""
    return _view(
        {
            "id": outcome.id,
            "match_id": outcome.match_id,
            **fields_of(outcome),
            "recorded_by": outcome.recorded_by,
            "recorded_at": outcome.recorded_at,
        },
        params,
    )


def _view(record: dict[str, Any], params: dict[str, Any] | None) -> dict[str, Any]:
    """:func:`view` of a record's column values (``id``, ``match_id``, the outcome fields,
    ``recorded_by``, ``recorded_at``; any other key is left out)."""
    fields = {name: record[name] for name in OUTCOME_FIELDS}
    success = scoring.outcome_success(fields, params=params)
    return {
        "id": record["id"],
        "match_id": record["match_id"],
        **fields,
        "success": None if math.isnan(success) else success,
        "recorded_by": record["recorded_by"],
        "recorded_at": record["recorded_at"],
    }

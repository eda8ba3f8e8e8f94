"""Review of matches: list them, edit or reject a proposal.

Publishing and ending are in :mod:`api.services.publication`. Concurrency is settled
by the database: every change to a run's proposals first locks the run row
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already
serializes writers), and a match's ``version`` column refuses a stale edit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from api.services import audit, eligibility, learning
from api.services.context import Actor
from api.services.errors import Conflict, NotFound, ValidationFailed
from api.services.lookup import (
    get_owned,
    get_program,
    live_match,
    lock_run,
    run_config,
)
from api.services.match_views import (
    MATCH_VIEW,
    PROGRAM_MATCHES,
    RUN_MATCHES,
    match_view,
    mentor_label,
    page_views,
    ref,
    views,
)
from api.services.pagination import Page, paginate
from models import Match, Participant, Program, Run, UnmatchedMentee
from models.vocabulary import MatchStatus, Role

STATUSES = tuple(MatchStatus)


# ----------------------------------------------------------------- reading


@dataclass(frozen=True)
class RunProposals:
    """One page of a run's matches; the first page also carries every unmatched mentee."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    unmatched: list[dict[str, Any]]
    unmatched_count: int


def list_run_matches(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    run_id: uuid.UUID,
    *,
    limit: int = 100,
    cursor: str | None = None,
    status: str | None = None,
) -> RunProposals:
    """The proposals of a run with their explanations, and the mentees it left unmatched."""
    get_program(session, actor, program_id)
    run = get_owned(session, Run, run_id, actor, program_id=program_id)
    stmt = RUN_MATCHES  # Core rows: no ORM object per match
    if status is not None:
        stmt = stmt.where(Match.status == status)
    params = {"organization_id": actor.organization_id, "run_id": run.id}
    page = paginate(
        session, stmt, Match.created_at, Match.id, limit=limit, cursor=cursor, params=params
    )
    unmatched_rows = session.execute(
        select(UnmatchedMentee.reason, Participant)
        .join(Participant, Participant.id == UnmatchedMentee.mentee_id)
        .where(UnmatchedMentee.run_id == run.id)
        .order_by(UnmatchedMentee.reason, Participant.external_id, Participant.id)
    ).all()
    # Later pages repeat no unmatched mentees: a client reads them once, with the first page.
    unmatched = (
        []
        if cursor
        else [{"mentee": ref(row.Participant), "reason": row.reason} for row in unmatched_rows]
    )
    return RunProposals(
        page_views(session, page.items), page.next_cursor, unmatched, len(unmatched_rows)
    )


def list_matches(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    *,
    status: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Page[dict[str, Any]]:
    """A program's matches, optionally of one status, oldest first."""
    if status is not None and status not in STATUSES:
        get_program(session, actor, program_id)  # a missing program's 404 comes first
        raise ValidationFailed({"status": [f"must be one of {', '.join(STATUSES)}"]})
    stmt = PROGRAM_MATCHES  # Core rows: no ORM object per match
    if status is not None:
        stmt = stmt.where(Match.status == status)
    params = {"organization_id": actor.organization_id, "program_id": program_id}
    page = paginate(
        session, stmt, Match.created_at, Match.id, limit=limit, cursor=cursor, params=params
    )
    if not page.items:
        get_program(session, actor, program_id)  # none, or no such program?
    return Page(page_views(session, page.items), page.next_cursor)


def get_match(session: Session, actor: Actor, match_id: uuid.UUID) -> dict[str, Any]:
    """One match of the actor's organization in a live program, as :func:`views` shows
    it: one statement (the match, its program's liveness and both people)."""
    row = session.execute(
        MATCH_VIEW, {"organization_id": actor.organization_id, "match_id": match_id}
    ).one_or_none()
    if row is None:
        raise NotFound("match", match_id)
    return match_view(row)


def _check_version(match: Match, version: int | None) -> None:
    if version is not None and version != match.version:
        raise Conflict(
            f"match {match.id} changed since version {version} (now version {match.version})"
        )


# ----------------------------------------------------------------- edit and reject


def _find_mentor(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    mentor_id: uuid.UUID | None,
    mentor_external_id: str | None,
) -> tuple[Participant, str]:
    if mentor_id is not None:
        field = "mentor_id"
        mentor = session.get(Participant, mentor_id, populate_existing=True)
        shown: object = mentor_id
    else:
        field, shown = "mentor_external_id", mentor_external_id
        mentor = session.scalars(
            select(Participant)
            .where(
                Participant.program_id == program_id,
                Participant.external_id == mentor_external_id,
                Participant.erased_at.is_(None),  # an erased person has no external id
            )
            .execution_options(populate_existing=True)
        ).first()
    if (
        mentor is None
        or mentor.organization_id != actor.organization_id
        or mentor.program_id != program_id
    ):
        raise ValidationFailed({field: [f"no participant {shown} in this program"]})
    if mentor.role != Role.MENTOR:
        raise ValidationFailed({field: [f"participant {shown} is a {mentor.role}, not a mentor"]})
    if not mentor.active:
        raise ValidationFailed({field: [f"mentor {shown} is not active"]})
    return mentor, field


def edit_match(
    session: Session,
    actor: Actor,
    match_id: uuid.UUID,
    *,
    mentor_id: uuid.UUID | None = None,
    mentor_external_id: str | None = None,
    status: str | None = None,
    version: int | None = None,
    allow_previous_pair: bool = False,
) -> dict[str, Any]:
    """Give a proposal's mentee another mentor (revalidated, re-explained), or reject it.

    The new pair must pass every rule of :mod:`api.services.eligibility`; with
    ``allow_previous_pair`` the admin overrides rule 4 (a pair ended or rejected
    before), and the audit entry records the override.
    """
    chosen = [x is not None for x in (mentor_id, mentor_external_id, status)]
    if sum(chosen) != 1:
        raise ValidationFailed(
            {"_schema": ["give exactly one of mentor_id, mentor_external_id or status"]}
        )
    if status is not None and status != MatchStatus.REJECTED:
        raise ValidationFailed({"status": [f"can only be set to 'rejected', got {status!r}"]})
    if allow_previous_pair and status is not None:
        raise ValidationFailed({"allow_previous_pair": ["only applies to a change of mentor"]})
    match = live_match(session, actor, match_id)
    program = get_program(session, actor, match.program_id)
    run = lock_run(session, match.run_id)
    session.refresh(match)  # the state after whoever held the run lock before us
    if run is not None and run.dry_run:
        raise Conflict(f"match {match.id} belongs to dry run {run.id}: it cannot be edited")
    if match.status != MatchStatus.PROPOSED:
        raise Conflict(f"match {match.id} is {match.status}: only proposed matches can be edited")
    _check_version(match, version)

    details: dict[str, Any] = {}
    if status == MatchStatus.REJECTED:
        match.status = MatchStatus.REJECTED
        action = "match.rejected"
    else:
        mentor, field = _find_mentor(session, actor, program.id, mentor_id, mentor_external_id)
        if mentor.id == match.mentor_id:
            return views(session, [match])[0]  # already this mentor: nothing to change
        details = _change_mentor(session, program, run, match, mentor, field, allow_previous_pair)
        action = "match.edited"
    match.edited_by = actor.admin_id
    try:
        session.flush()
    except StaleDataError as exc:
        session.rollback()
        raise Conflict(f"match {match_id} was changed concurrently; reload and retry") from exc
    audit.record(
        session,
        actor,
        action,
        program_id=program.id,
        target_type="match",
        target_ids=[match.id],
        details=details,
    )
    session.commit()
    return views(session, [match])[0]


def _change_mentor(
    session: Session,
    program: Program,
    run: Run | None,
    match: Match,
    mentor: Participant,
    field: str,
    allow_previous_pair: bool,
) -> dict[str, Any]:
    """Check the new pair by every rule, re-explain it, and return the audit details."""
    overridden = _check_not_matched_before(session, match, mentor, field, allow_previous_pair)
    if eligibility.proposed_in_run(
        session, match.run_id, match.mentee_id, mentor.id, except_match=match.id
    ):
        raise ValidationFailed(
            {
                field: [
                    f"{mentor_label(mentor)} is already proposed to this mentee in this run: "
                    "a pair is proposed once"
                ]
            }
        )
    config = run_config(session, program, run)
    _check_edit_capacity(session, config, match, mentor, field)
    mentee = session.get(Participant, match.mentee_id)
    assert mentee is not None  # a foreign key
    explanation = eligibility.explain_pairs(
        session,
        program.id,
        [(mentee, mentor)],
        config=config,
        weights=eligibility.weights_of_run(session, run, config),
    )[0]
    if not explanation.allowed:
        who = mentor_label(mentor)
        raise ValidationFailed({field: [f"{who}: {why}" for why in explanation.blocked_by]})
    details: dict[str, Any] = {
        "from_mentor_id": str(match.mentor_id),
        "to_mentor_id": str(mentor.id),
    }
    if overridden is not None:
        details["overrode_previous_pair"] = overridden
    # The new pair's score, calibrated on the same past outcomes a run would use (read
    # before the match changes: a query's autoflush would bump its version twice).
    calibration = learning.calibration_data(session, program.id, config)
    match.mentor_id = mentor.id
    match.score = explanation.score
    match.breakdown = explanation.breakdown
    match.reasons = explanation.reasons
    match.predicted_success = (
        None if calibration is None else float(calibration.predict([explanation.score])[0])
    )
    return details


def _check_not_matched_before(
    session: Session, match: Match, mentor: Participant, field: str, allow: bool
) -> str | None:
    """Rule 4 of :mod:`~api.services.eligibility` for an edit. Returns the status of the
    earlier pair the admin overrode (``allow``), None when there was none."""
    before = eligibility.previous_pair(
        session, match.program_id, match.mentee_id, mentor.id, except_match=match.id
    )
    if before is None:
        return None
    if before.status != MatchStatus.PUBLISHED and allow:
        return str(before.status)

    def day(at: datetime | None) -> str:
        return at.date().isoformat() if at is not None else "date unknown"

    if before.status == MatchStatus.PUBLISHED:
        why = f"are already matched (published {day(before.published_at)})"
        hint = ""
    elif before.status == MatchStatus.ENDED:
        why = f"were matched before (ended {day(before.ended_at)})"
        hint = "; set allow_previous_pair to propose it anyway"
    else:
        why = f"were proposed and rejected before ({day(before.updated_at)})"
        hint = "; set allow_previous_pair to propose it anyway"
    raise ValidationFailed(
        {
            field: [
                f"mentee and {mentor_label(mentor)} {why}: a pair that was published or "
                f"rejected is not proposed again{hint}"
            ]
        }
    )


def _check_edit_capacity(
    session: Session, config: dict[str, Any], match: Match, mentor: Participant, field: str
) -> None:
    """The new mentor must have room for this mentee besides their published matches and
    the other proposals of the same run, by the capacity of the run's configuration."""
    cap = eligibility.capacity_of(mentor, config)
    proposed = eligibility.proposed_load(session, match.run_id, mentor.id, except_match=match.id)
    taken = mentor.published_load + proposed
    if taken + 1 > cap:
        raise ValidationFailed(
            {
                field: [
                    f"{mentor_label(mentor)} is at capacity: {taken} of {cap} places taken "
                    f"({mentor.published_load} published, {proposed} proposed in this run)"
                ]
            }
        )

"""Review of matches: list them, edit or reject a proposal.

Publishing and ending are in :mod:`api.services.publication`. Concurrency is settled
by the database: every change to a run's proposals first locks the run row
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already
serializes writers), and a match's ``version`` column refuses a stale edit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

import scoring
from api.services import audit
from api.services.context import Actor
from api.services.errors import Conflict, NotFound, ValidationFailed
from api.services.lookup import config_of, get_owned, get_program, profile
from api.services.pagination import Page, paginate
from models import Match, Participant, Program, Run, UnmatchedMentee, WeightsVersion

STATUSES = ("proposed", "published", "rejected", "ended")


# ----------------------------------------------------------------- reading


def _people(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Participant]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.scalars(select(Participant).where(Participant.id.in_(wanted)))
    return {p.id: p for p in rows}


def ref(participant: Participant) -> dict[str, Any]:
    """How a match names a person: ids and display name only, read through
    :func:`~api.services.lookup.profile` so an erased person shows no name."""
    shown = profile(participant)
    return {
        "id": participant.id,
        "external_id": shown["external_id"],
        "name": shown["name"],
    }


def label(participant: Participant) -> str:
    """A person in a message: the external id, or the uuid once erased (never a name)."""
    return str(profile(participant)["external_id"] or participant.id)


def views(session: Session, matches: Sequence[Match]) -> list[dict[str, Any]]:
    people = _people(session, [m.mentee_id for m in matches] + [m.mentor_id for m in matches])
    return [_view(m, people[m.mentee_id], people[m.mentor_id]) for m in matches]


def _view(match: Match, mentee: Participant, mentor: Participant) -> dict[str, Any]:
    return {
        "id": match.id,
        "program_id": match.program_id,
        "run_id": match.run_id,
        "mentee": ref(mentee),
        "mentor": ref(mentor),
        "score": match.score,
        "breakdown": match.breakdown,
        "reasons": match.reasons,
        "status": match.status,
        "version": match.version,
        "created_at": match.created_at,
        "updated_at": match.updated_at,
        "edited_by": match.edited_by,
        "published_by": match.published_by,
        "published_at": match.published_at,
        "ended_by": match.ended_by,
        "ended_at": match.ended_at,
        "ended_reason": match.ended_reason,
    }


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
    stmt = select(Match).where(Match.run_id == run.id)
    if status is not None:
        stmt = stmt.where(Match.status == status)
    page = paginate(session, stmt, Match.created_at, Match.id, limit=limit, cursor=cursor)
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
        views(session, page.items), page.next_cursor, unmatched, len(unmatched_rows)
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
    get_program(session, actor, program_id)
    stmt = select(Match).where(
        Match.program_id == program_id, Match.organization_id == actor.organization_id
    )
    if status is not None:
        if status not in STATUSES:
            raise ValidationFailed({"status": [f"must be one of {', '.join(STATUSES)}"]})
        stmt = stmt.where(Match.status == status)
    page = paginate(session, stmt, Match.created_at, Match.id, limit=limit, cursor=cursor)
    return Page(views(session, page.items), page.next_cursor)


def live_match(session: Session, actor: Actor, match_id: uuid.UUID) -> Match:
    match = get_owned(session, Match, match_id, actor)
    program = session.get(Program, match.program_id)
    if program is None or program.deleted_at is not None:
        raise NotFound("match", match_id)
    return match


def get_match(session: Session, actor: Actor, match_id: uuid.UUID) -> dict[str, Any]:
    return views(session, [live_match(session, actor, match_id)])[0]


# ----------------------------------------------------------------- shared rules


def capacity_of(mentor: Participant, config: dict[str, Any]) -> int:
    """A mentor's own capacity, else the program's ``default_capacity`` (default 1)."""
    if mentor.capacity is not None:
        return mentor.capacity
    return int(config.get("default_capacity", 1))


def active_weights(session: Session, program_id: uuid.UUID) -> WeightsVersion | None:
    return session.scalars(
        select(WeightsVersion).where(
            WeightsVersion.program_id == program_id, WeightsVersion.active.is_(True)
        )
    ).first()


def run_config(session: Session, program: Program, run: Run | None) -> dict[str, Any]:
    """The configuration a run's proposals are checked and published against: the
    version the run used (the program's current one for a match without a run)."""
    return config_of(session, program, run.config_version if run is not None else None)


def _run_weights(session: Session, run: Run) -> dict[str, float] | None:
    if run.weights_version is None:
        return None
    row = session.scalars(
        select(WeightsVersion.weights).where(
            WeightsVersion.program_id == run.program_id,
            WeightsVersion.version == run.weights_version,
        )
    ).first()
    return dict(row) if row else None


def lock_run(session: Session, run_id: uuid.UUID | None) -> Run | None:
    """Take the run's row lock: edits and publications of one run happen one at a time."""
    if run_id is None:
        return None
    return session.scalars(
        select(Run)
        .where(Run.id == run_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _cohort(session: Session, program_id: uuid.UUID, role: str) -> list[Participant]:
    return list(
        session.scalars(
            select(Participant)
            .where(
                Participant.program_id == program_id,
                Participant.role == role,
                Participant.active.is_(True),
            )
            .order_by(Participant.id)
        )
    )


def explain_pairs(
    session: Session,
    program: Program,
    pairs: Sequence[tuple[Participant, Participant]],
    *,
    config: dict[str, Any],
    weights: dict[str, float] | None = None,
) -> list[scoring.Explanation]:
    """Score and explain a few (mentee, mentor) pairs: the one check of a single pair
    against the hard constraints (``allowed``, ``blocked_by``), for edits and pins.

    The whole active cohort is encoded (text similarity depends on it, as in a run)
    but only the given pairs are scored: no matrix is built. A participant who is not
    active is appended, so the pair is still explained (and reported not allowed).
    Raises :class:`Conflict` when the program's data cannot be scored.
    """
    if not pairs:
        return []
    sides: list[list[Participant]] = []
    indices: list[list[int]] = []
    for role, k in (("mentee", 0), ("mentor", 1)):
        people = _cohort(session, program.id, role)
        where = {p.id: n for n, p in enumerate(people)}
        for pair in pairs:
            if pair[k].id not in where:
                where[pair[k].id] = len(people)
                people.append(pair[k])
        sides.append(people)
        indices.append([where[pair[k].id] for pair in pairs])
    try:
        compat = scoring.lazy_compatibility(
            [profile(p) for p in sides[0]],
            [profile(p) for p in sides[1]],
            config,
            weights=weights,
        )
        return list(scoring.explain(compat, indices[0], indices[1]))
    except scoring.ScoringError as exc:
        raise Conflict(f"the program's data cannot be scored: {exc}") from exc


def _explain_pair(
    session: Session,
    program: Program,
    run: Run | None,
    mentee: Participant,
    mentor: Participant,
) -> scoring.Explanation:
    """Score and explain one pair against the run's configuration and weights."""
    weights = _run_weights(session, run) if run else None
    config = run_config(session, program, run)
    return explain_pairs(session, program, [(mentee, mentor)], config=config, weights=weights)[0]


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
    if mentor.role != "mentor":
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
) -> dict[str, Any]:
    """Give a proposal's mentee another mentor (revalidated, re-explained), or reject it."""
    chosen = [x is not None for x in (mentor_id, mentor_external_id, status)]
    if sum(chosen) != 1:
        raise ValidationFailed(
            {"_schema": ["give exactly one of mentor_id, mentor_external_id or status"]}
        )
    if status is not None and status != "rejected":
        raise ValidationFailed({"status": [f"can only be set to 'rejected', got {status!r}"]})
    match = live_match(session, actor, match_id)
    program = get_program(session, actor, match.program_id)
    run = lock_run(session, match.run_id)
    session.refresh(match)  # the state after whoever held the run lock before us
    if run is not None and run.dry_run:
        raise Conflict(f"match {match.id} belongs to dry run {run.id}: it cannot be edited")
    if match.status != "proposed":
        raise Conflict(f"match {match.id} is {match.status}: only proposed matches can be edited")
    _check_version(match, version)

    if status == "rejected":
        match.status = "rejected"
        match.edited_by = actor.admin_id
        action, details = "match.rejected", {}
    else:
        mentor, field = _find_mentor(session, actor, program.id, mentor_id, mentor_external_id)
        mentee = session.get(Participant, match.mentee_id)
        assert mentee is not None  # a foreign key
        if mentor.id != match.mentor_id:
            _check_not_matched_before(session, match, mentor, field)
            _check_edit_capacity(session, program, run, match, mentor, field)
            explanation = _explain_pair(session, program, run, mentee, mentor)
            if not explanation.allowed:
                who = mentor_label(mentor)
                raise ValidationFailed({field: [f"{who}: {why}" for why in explanation.blocked_by]})
            details = {"from_mentor_id": str(match.mentor_id), "to_mentor_id": str(mentor.id)}
            match.mentor_id = mentor.id
            match.score = explanation.score
            match.breakdown = explanation.breakdown
            match.reasons = explanation.reasons
            match.edited_by = actor.admin_id
            action = "match.edited"
        else:
            return views(session, [match])[0]  # already this mentor: nothing to change
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


def mentor_label(p: Participant) -> str:
    return f"mentor {label(p)}"


def _check_not_matched_before(
    session: Session, match: Match, mentor: Participant, field: str
) -> None:
    """Runs never propose a pair again that was published (ongoing or ended); an edit
    may not re-create one either."""
    before = session.execute(
        select(Match.status, Match.published_at, Match.ended_at)
        .where(
            Match.program_id == match.program_id,
            Match.mentee_id == match.mentee_id,
            Match.mentor_id == mentor.id,
            Match.status.in_(("published", "ended")),
            Match.id != match.id,
        )
        .order_by(Match.status.desc())  # 'published' first: the ongoing one says more
    ).first()
    if before is None:
        return

    def day(at: datetime | None) -> str:
        return at.date().isoformat() if at is not None else "date unknown"

    if before.status == "published":
        why = f"are already matched (published {day(before.published_at)})"
    else:
        why = f"were matched before (ended {day(before.ended_at)})"
    raise ValidationFailed(
        {
            field: [
                f"mentee and {mentor_label(mentor)} {why}: a pair is never proposed "
                "again once it was published"
            ]
        }
    )


def _check_edit_capacity(
    session: Session,
    program: Program,
    run: Run | None,
    match: Match,
    mentor: Participant,
    field: str,
) -> None:
    """The new mentor must have room for this mentee besides their published matches and
    the other proposals of the same run, by the capacity of the run's configuration."""
    cap = capacity_of(mentor, run_config(session, program, run))
    proposed = session.scalar(
        select(func.count())
        .select_from(Match)
        .where(
            Match.run_id == match.run_id,
            Match.mentor_id == mentor.id,
            Match.status == "proposed",
            Match.id != match.id,
        )
    )
    taken = mentor.published_load + int(proposed or 0)
    if taken + 1 > cap:
        raise ValidationFailed(
            {
                field: [
                    f"{mentor_label(mentor)} is at capacity: {taken} of {cap} places taken "
                    f"({mentor.published_load} published, {proposed} proposed in this run)"
                ]
            }
        )

"""Publishing a run's proposals and ending matches, with capacity kept by the database.

- publishing flips ``proposed -> published`` with one conditional UPDATE
  (``... AND status = 'proposed'``) after locking the run row: a second, concurrent
  publication finds nothing left to publish and records nothing;
- the ``published_load`` of each mentor and of each mentee grows by a conditional
  UPDATE (``published_load + n <= capacity``) on rows locked in id order (both
  sides in one order, so concurrent publications never deadlock): nobody exceeds
  their capacity, whoever publishes which run; ``CHECK (published_load >= 0)``
  guards the release when a match ends, which releases both sides;
- a partial unique index publishes a pair at most once.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from api.services import audit, sides
from api.services.context import Actor
from api.services.eligibility import capacity_of
from api.services.errors import Conflict, ValidationFailed
from api.services.lookup import get_owned, get_program, live_match, lock_run, run_config
from api.services.match_views import label, mentor_label, people, views
from models import Match, Participant, Run
from models.vocabulary import MatchStatus, RunStatus


@dataclass(frozen=True)
class Publication:
    run_id: uuid.UUID
    newly_published: int
    published: list[uuid.UUID]  # of the requested matches, those now published


def publish(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    run_id: uuid.UUID,
    *,
    match_ids: Sequence[uuid.UUID] | None = None,
) -> Publication:
    """Publish a run's proposals (all, or ``match_ids``). Idempotent: what is already
    published stays as it is, and a call that publishes nothing records nothing."""
    program = get_program(session, actor, program_id)
    get_owned(session, Run, run_id, actor, program_id=program_id)
    run = lock_run(session, run_id)
    assert run is not None
    if run.dry_run:
        raise Conflict(f"run {run.id} is a dry run: its proposals can never be published")
    if run.status != RunStatus.SUCCEEDED:
        raise Conflict(f"run {run.id} is {run.status}: only a succeeded run can be published")

    scope = [Match.run_id == run.id]
    if match_ids is not None:
        wanted = set(match_ids)
        found = {
            row.id: row.status
            for row in session.execute(
                select(Match.id, Match.status).where(*scope, Match.id.in_(wanted))
            )
        }
        missing = sorted(str(i) for i in wanted - set(found))
        if missing:
            raise ValidationFailed(
                {"match_ids": [f"not matches of run {run.id}: {', '.join(missing)}"]}
            )
        closed = sorted(
            str(i) for i, s in found.items() if s in (MatchStatus.REJECTED, MatchStatus.ENDED)
        )
        if closed:
            raise Conflict(f"matches rejected or ended cannot be published: {', '.join(closed)}")
        scope.append(Match.id.in_(wanted))

    _check_pairs_free(session, scope)
    _check_sides(session, scope)
    now = datetime.now(UTC)
    try:
        rows = session.execute(
            update(Match)
            .where(*scope, Match.status == MatchStatus.PROPOSED, ~sides.misplaced())
            .values(
                status=MatchStatus.PUBLISHED,
                published_by=actor.admin_id,
                published_at=now,
                updated_at=now,
                version=Match.version + 1,
            )
            .returning(Match.id, Match.mentee_id, Match.mentor_id)
            .execution_options(synchronize_session=False)
        ).all()
    except IntegrityError as exc:  # the partial unique index: the pair published elsewhere
        session.rollback()
        raise Conflict(
            "a pair of these proposals is already published (published concurrently)"
        ) from exc
    # A person changed side or left between the check and the UPDATE: publish nothing.
    _check_sides(session, scope, rollback=True)
    if rows:
        places = Counter(row.mentor_id for row in rows) + Counter(row.mentee_id for row in rows)
        _take_capacity(session, run_config(session, program, run), places)
        session.expire_all()  # the bulk UPDATEs bypassed the identity map
        audit.record(
            session,
            actor,
            "match.published",
            program_id=program.id,
            target_type="match",
            target_ids=sorted(str(row.id) for row in rows),
            details={"run_id": str(run.id), "count": len(rows)},
        )
    published = list(
        session.scalars(select(Match.id).where(*scope, Match.status == MatchStatus.PUBLISHED))
    )
    session.commit()
    return Publication(run.id, len(rows), sorted(published, key=str))


def _check_sides(session: Session, scope: list[Any], *, rollback: bool = False) -> None:
    """A 409 naming the proposals whose mentee or mentor is no longer an active person
    of that role (deactivated, or their role changed after the run)."""
    bad = list(
        session.scalars(
            select(Match.id)
            .where(*scope, Match.status == MatchStatus.PROPOSED, sides.misplaced())
            .order_by(Match.id)
            .limit(sides.NAMED)
        )
    )
    if bad:
        if rollback:
            session.rollback()
        error = Conflict(
            "proposals whose mentee or mentor is inactive or no longer a mentee or mentor "
            f"cannot be published: {', '.join(str(m) for m in bad)}; reject them or "
            "publish the others by match_ids"
        )
        error.extra["matches"] = [str(m) for m in bad]
        raise error


def _check_pairs_free(session: Session, scope: list[Any]) -> None:
    """A clear 409 before the unique index would refuse: pairs published elsewhere."""
    other = Match.__table__.alias("other")
    taken = session.execute(
        select(Match.mentee_id, Match.mentor_id)
        .join(
            other,
            (other.c.mentee_id == Match.mentee_id) & (other.c.mentor_id == Match.mentor_id),
        )
        .where(
            *scope,
            Match.status == MatchStatus.PROPOSED,
            other.c.status == MatchStatus.PUBLISHED,
        )
        .order_by(Match.mentee_id, Match.mentor_id)
        .limit(20)
    ).all()
    if taken:
        who = people(session, {i for pair in taken for i in pair})
        names = ", ".join(f"{label(who[a])} with {mentor_label(who[b])}" for a, b in taken)
        raise Conflict(f"pairs already published: {names}")


#: Ids per IN list: far under PostgreSQL's 65,535 bind parameters per statement.
IN_CHUNK = 10_000


def _take_capacity(session: Session, config: dict[str, Any], load: Counter[uuid.UUID]) -> None:
    """Add ``load`` to the published load of mentors and mentees alike, by the
    capacities of ``config`` (the publishing run's configuration)."""
    # Lock everyone in id order (PostgreSQL): concurrent publications never deadlock.
    # In chunks of sorted ids, so that the order holds across them and no statement
    # passes PostgreSQL's 65,535 bind parameters (a run may have more people).
    wanted = sorted(load)
    locked = [
        person
        for start in range(0, len(wanted), IN_CHUNK)
        for person in session.scalars(
            select(Participant)
            .where(Participant.id.in_(wanted[start : start + IN_CHUNK]))
            .order_by(Participant.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ]
    groups: dict[tuple[int, int], list[uuid.UUID]] = defaultdict(list)
    for person in locked:
        groups[(load[person.id], capacity_of(person, config))].append(person.id)
    # One conditional UPDATE per (count, capacity): the database refuses over-capacity.
    for (n, cap), ids in groups.items():
        done = 0
        for start in range(0, len(ids), IN_CHUNK):
            bump = (
                update(Participant)
                .where(
                    Participant.id.in_(ids[start : start + IN_CHUNK]),
                    Participant.published_load + n <= cap,
                )
                .values(published_load=Participant.published_load + n)
                .execution_options(synchronize_session=False)
            )
            # An UPDATE without RETURNING gives a CursorResult; Session.execute is typed
            # as the general Result on purpose (sqlalchemy/sqlalchemy#12913).
            done += cast(CursorResult[Any], session.execute(bump)).rowcount
        if done != len(ids):
            group = set(ids)
            full = [p for p in locked if p.id in group and p.published_load + n > cap]
            session.rollback()
            names = ", ".join(
                f"{p.role} {label(p)} ({p.published_load} published + {n} > capacity {cap})"
                for p in full
            )
            raise Conflict(f"publishing would exceed capacity: {names or 'a participant'}")


def release_places(session: Session, matches: Sequence[Any]) -> None:
    """Give back the places of ended matches (rows with ``mentee_id`` and ``mentor_id``)
    on both sides: one UPDATE per person and count."""
    freed = Counter(m.mentor_id for m in matches) + Counter(m.mentee_id for m in matches)
    for person_id, n in sorted(freed.items()):
        session.execute(
            update(Participant)
            .where(Participant.id == person_id)
            .values(published_load=Participant.published_load - n)
            .execution_options(synchronize_session=False)
        )


def end_match(
    session: Session, actor: Actor, match_id: uuid.UUID, *, reason: str
) -> dict[str, Any]:
    """End a published match with a reason; the mentor's and the mentee's places are
    released."""
    reason = reason.strip()
    if not reason:
        raise ValidationFailed({"reason": ["must not be empty"]})
    match = live_match(session, actor, match_id)
    if match.status != MatchStatus.PUBLISHED:
        raise Conflict(f"match {match.id} is {match.status}: only published matches can end")
    now = datetime.now(UTC)
    match.status = MatchStatus.ENDED
    match.ended_by = actor.admin_id
    match.ended_at = now
    match.ended_reason = reason
    try:
        session.flush()  # the version check: one of two concurrent ends wins
    except StaleDataError as exc:
        session.rollback()
        raise Conflict(f"match {match_id} was changed concurrently; reload and retry") from exc
    release_places(session, [match])
    session.expire_all()
    # The reason is free text and may name people: the audit log keeps ids only.
    audit.record(
        session,
        actor,
        "match.ended",
        program_id=match.program_id,
        target_type="match",
        target_ids=[match.id],
    )
    session.commit()
    return views(session, [match])[0]

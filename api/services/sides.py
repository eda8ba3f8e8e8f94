"""One person, one side: what a participant's role and capacity may change into.

A person holds one role in a program. A role that changed while a match was proposed
or published would let a later run make them the mentee of one published match and
the mentor of another, so:

- a role change is refused while the person has a proposed or published match (a
  409 naming those matches: reject or end them first);
- a mentor's or mentee's capacity (their own, or the configuration's default for
  their role when they have none) never drops below their published load (a 409
  with the numbers);
- publication re-checks that both people of each pair are active and still hold
  their roles (:func:`misplaced`, used by :mod:`api.services.publication`).

Changes lock the people's rows first, in id order as publication does: a capacity
change and a publication of the same mentor happen one after the other, and each
sees what the other wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

from api.services.eligibility import capacity_of
from api.services.errors import Conflict
from models import Match, Participant
from models.vocabulary import MatchStatus, Role

#: How many matches or people a refusal names.
NAMED = 20


def check_changes(
    session: Session,
    config: Mapping[str, Any],
    changes: Sequence[tuple[uuid.UUID, Mapping[str, Any]]],
) -> None:
    """Refuse role and capacity changes that would break the rules above.

    ``changes`` pairs a stored participant's id with its checked new values (at least
    ``role`` and ``capacity``). Takes the rows' locks in the caller's transaction.
    """
    if not changes:
        return
    new = dict(changes)
    locked = {
        p.id: p
        for p in session.scalars(
            select(Participant)
            .where(Participant.id.in_(list(new)))
            .order_by(Participant.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    moved = [pid for pid, p in locked.items() if new[pid]["role"] != p.role]
    if moved:
        live = list(
            session.scalars(
                select(Match.id)
                .where(
                    or_(Match.mentee_id.in_(moved), Match.mentor_id.in_(moved)),
                    Match.status.in_((MatchStatus.PROPOSED, MatchStatus.PUBLISHED)),
                )
                .order_by(Match.id)
            )
        )
        if live:
            named = [str(m) for m in live[:NAMED]]
            error = Conflict(
                f"a role cannot change while the person has proposed or published matches "
                f"({len(live)}: {', '.join(named)}); reject or end them first"
            )
            error.extra["matches"] = named
            raise error
    for pid, person in locked.items():
        values = new[pid]
        if person.published_load == 0:
            continue
        capacity = capacity_of(values, config)
        if capacity < person.published_load:
            error = Conflict(
                f"capacity {capacity} is below the {values['role']}'s "
                f"{person.published_load} published matches; end some of them first"
            )
            error.extra.update({"capacity": capacity, "published_load": person.published_load})
            raise error


def misplaced(match: type[Match] = Match) -> ColumnElement[bool]:
    """SQL: the pair's mentee is not an active mentee, or its mentor not an active mentor."""
    mentee, mentor = aliased(Participant), aliased(Participant)
    return or_(
        ~exists().where(
            and_(mentee.id == match.mentee_id, mentee.role == Role.MENTEE, mentee.active)
        ),
        ~exists().where(
            and_(mentor.id == match.mentor_id, mentor.role == Role.MENTOR, mentor.active)
        ),
    )

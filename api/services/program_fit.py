"""A new configuration against the participants already stored under the old one.

A configuration change may contradict stored data: a category narrowed below the
values people hold, a field whose type changed, position levels that no longer list
someone's position (reported as field ``position``; cleared, it becomes no position).
Left alone, every run would then fail and even renaming an affected person would
answer 422. So a change is checked against
the program's participants first (:func:`refit`):

- ``on_conflict="refuse"`` (the default): a 422 counting who would no longer fit and
  naming them by external id (the first :data:`NAMED`), with the fields at fault;
- ``on_conflict="clear"``: those values become missing (the attribute is removed), in
  the same transaction as the new version.

Values of a field the new configuration removes are dropped either way: nothing shows
or scores a field that no longer exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.services.errors import ValidationFailed
from api.services.participants_validation import KEYS, check_participant, fields_by_key
from models import Participant, Program
from scoring.positions import PositionRule

ON_CONFLICT = ("refuse", "clear")
#: How many external ids a refusal names.
NAMED = 20


def refit(
    session: Session, program: Program, config: Mapping[str, Any], *, on_conflict: str
) -> dict[str, int]:
    """Make the program's participants fit ``config`` or refuse; returns what changed
    (``{"cleared": people whose conflicting values were cleared, "dropped": people
    who lost values of removed fields}``), for the audit entry."""
    if on_conflict not in ON_CONFLICT:
        raise ValidationFailed(
            {"on_conflict": [f"must be one of {', '.join(ON_CONFLICT)}, got {on_conflict!r}"]}
        )
    fields = fields_by_key(config)
    positions = PositionRule(config)
    misfits: list[tuple[Participant, set[str]]] = []
    unlisted: list[Participant] = []  # positions the new position_levels no longer list
    dropped: list[tuple[Participant, dict[str, Any]]] = []
    people = session.scalars(
        select(Participant)
        .where(Participant.program_id == program.id, Participant.erased_at.is_(None))
        .order_by(Participant.external_id, Participant.id)
    )
    for person in people:
        attributes = dict(person.attributes or {})
        kept = {k: v for k, v in attributes.items() if k in fields}
        values = {key: getattr(person, key) for key in KEYS} | {"attributes": kept}
        _, problems = check_participant(values, fields, positions=positions)
        bad = {p.split(".")[1] for p, _ in problems if p.startswith("attributes.")}
        if any(p == "position" for p, _ in problems):
            unlisted.append(person)
            bad.add("position")
        if bad:
            misfits.append((person, bad))
        if kept != attributes:
            dropped.append((person, kept))
    if misfits and on_conflict == "refuse":
        names = [p.external_id or str(p.id) for p, _ in misfits[:NAMED]]
        keys = sorted(set().union(*(bad for _, bad in misfits)))
        more = f" and {len(misfits) - NAMED} more" if len(misfits) > NAMED else ""
        error = ValidationFailed(
            {
                "config": [
                    f"{len(misfits)} participants would no longer fit this configuration "
                    f"(fields {', '.join(keys)}): {', '.join(names)}{more}; correct them "
                    'first, or send "on_conflict": "clear" to clear those values'
                ]
            }
        )
        error.extra["conflicts"] = {"count": len(misfits), "external_ids": names, "fields": keys}
        raise error
    for person, kept in dropped:
        person.attributes = kept
    for person, bad in misfits:
        person.attributes = {k: v for k, v in (person.attributes or {}).items() if k not in bad}
    for person in unlisted:
        person.position = None
    return {"cleared": len(misfits), "dropped": len(dropped)}

"""Erasure: a participant anonymized at once, everywhere the service keeps them.

:func:`erase_participant` (``DELETE /v1/programs/{pid}/participants/{id}``) keeps the
row, so matches, outcomes, reports and learning keep counting the pair, but nothing
in it points at the person any more:

- the row: ``name`` becomes "Anonymous user"; ``email``, ``external_id``,
  ``position``, ``level``, ``skills``, ``attributes`` and ``exclude`` are cleared;
  ``active`` is false (no run or recommendation takes them again, eligibility rule
  5); ``erased_at`` is set. ``capacity`` stays: it is a number, not about the person.
  The unique ``(program_id, external_id)`` allows any number of NULLs, so the same
  external id uploaded again is a new, unrelated participant;
- their published matches end with reason ``erased``, by the conditional UPDATE
  publication uses (``status = 'published'``), and the places they held are
  released on both sides (the mentors' and the mentees' ``published_load``); their
  *proposals* are rejected, so that no one publishes a match with
  nobody in it (a rejected pair is never proposed again, which no longer matters);
- every match of theirs: ``reasons`` are replaced by one sentence saying why (they
  quote skills, field values and words of both profiles), and the free-text
  ``ended_reason`` of their matches and of those matches' outcomes becomes
  ``erased`` (an admin may have named them there). Scores and breakdowns stay: they
  are numbers and criterion names, and learning reads them;
- other participants' ``exclude`` lists lose the erased external id;
- the program's runs: the name, email and external id are replaced in ``stats``,
  ``error`` (a matcher refusal names people by external id) and ``options`` (pins
  name people by external id) by the participant's uuid;
- stored organization exports not yet downloaded (``exports``) are deleted: they
  were built before the erasure and still hold the person. Queued ones stay: they
  read the data when they run.

The audit log is append-only and holds ids only, so it needs no change; the erasure
is recorded as ``participant.erased`` with the participant's id and counts. A second
erasure of the same participant finds ``erased_at`` set and does nothing (idempotent).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from typing import cast as typed

from sqlalchemy import CursorResult, String, cast, delete, or_, select, update
from sqlalchemy.orm import Session

from api.services import audit
from api.services.context import Actor
from api.services.lookup import ANONYMOUS, get_participant
from api.services.publication import release_places
from models import Export, Match, Outcome, Participant, Run
from models.vocabulary import ExportStatus, MatchStatus

#: The reason an erasure ends a published match with, and the free texts it replaces.
ERASED = "erased"
#: What a match of an erased participant gives as its reasons.
ERASED_REASONS = ["Reasons removed: a participant of this match was erased."]


def erase_participant(
    session: Session, actor: Actor, program_id: uuid.UUID, participant_id: uuid.UUID
) -> None:
    """Anonymize the participant (see the module docstring); idempotent; commits once."""
    get_participant(session, actor, program_id, participant_id)  # the tenant-scoped 404
    person = session.scalars(
        select(Participant)
        .where(Participant.id == participant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if person.erased_at is not None:
        return
    now = datetime.now(UTC)
    needles = [v for v in (person.external_id, person.email, person.name) if v]
    external_id = person.external_id

    ended = _end_published(session, actor, person.id, now)
    rejected = _reject_proposals(session, actor, person.id, now)
    _scrub_matches(session, person.id)
    unexcluded = _drop_from_exclusions(session, program_id, person.id, external_id)
    runs = _scrub_runs(session, program_id, needles, str(person.id))
    exports = session.execute(
        delete(Export).where(
            Export.organization_id == actor.organization_id,
            Export.status.in_((ExportStatus.RUNNING, ExportStatus.READY)),
        )
    )
    session.execute(
        update(Participant)
        .where(Participant.id == person.id)
        .values(
            name=ANONYMOUS,
            email=None,
            external_id=None,
            position=None,
            level=None,
            skills=[],
            attributes={},
            exclude=[],
            active=False,
            erased_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.expire_all()  # the bulk UPDATEs bypassed the identity map
    audit.record(
        session,
        actor,
        "participant.erased",
        program_id=program_id,
        target_type="participant",
        target_ids=[person.id],
        details={
            "matches_ended": len(ended),
            "ended_match_ids": sorted(str(i) for i in ended),
            "proposals_rejected": rejected,
            "exclusions_removed": unexcluded,
            "runs_scrubbed": runs,
            # A DELETE gives a CursorResult (sqlalchemy/sqlalchemy#12913).
            "exports_discarded": typed(CursorResult[Any], exports).rowcount or 0,
        },
    )
    session.commit()


def _theirs(participant_id: uuid.UUID) -> Any:
    return or_(Match.mentee_id == participant_id, Match.mentor_id == participant_id)


def _end_published(
    session: Session, actor: Actor, participant_id: uuid.UUID, now: datetime
) -> list[uuid.UUID]:
    """End their published matches (publication's conditional update) and release the
    places on both sides (:func:`~api.services.publication.release_places`); the ids
    of the matches ended."""
    rows = session.execute(
        update(Match)
        .where(_theirs(participant_id), Match.status == MatchStatus.PUBLISHED)
        .values(
            status=MatchStatus.ENDED,
            ended_by=actor.admin_id,
            ended_at=now,
            ended_reason=ERASED,
            updated_at=now,
            version=Match.version + 1,
        )
        .returning(Match.id, Match.mentee_id, Match.mentor_id)
        .execution_options(synchronize_session=False)
    ).all()
    release_places(session, rows)
    return [row.id for row in rows]


def _reject_proposals(
    session: Session, actor: Actor, participant_id: uuid.UUID, now: datetime
) -> int:
    rows = session.execute(
        update(Match)
        .where(_theirs(participant_id), Match.status == MatchStatus.PROPOSED)
        .values(
            status=MatchStatus.REJECTED,
            edited_by=actor.admin_id,
            updated_at=now,
            version=Match.version + 1,
        )
        .returning(Match.id)
        .execution_options(synchronize_session=False)
    ).all()
    return len(rows)


def _scrub_matches(session: Session, participant_id: uuid.UUID) -> None:
    """Reasons and free texts of every match of theirs (and of its outcomes)."""
    session.execute(
        update(Match)
        .where(_theirs(participant_id))
        .values(reasons=ERASED_REASONS)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Match)
        .where(_theirs(participant_id), Match.ended_reason.is_not(None))
        .values(ended_reason=ERASED)
        .execution_options(synchronize_session=False)
    )
    theirs = select(Match.id).where(_theirs(participant_id)).scalar_subquery()
    session.execute(
        update(Outcome)
        .where(Outcome.match_id.in_(theirs), Outcome.ended_reason.is_not(None))
        .values(ended_reason=ERASED)
        .execution_options(synchronize_session=False)
    )


def _drop_from_exclusions(
    session: Session, program_id: uuid.UUID, participant_id: uuid.UUID, external_id: str | None
) -> int:
    """Remove ``external_id`` from the other participants' ``exclude`` lists."""
    if not external_id:
        return 0
    # A coarse text filter first (JSON containment differs per backend), exact below.
    escaped = external_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    candidates = session.execute(
        select(Participant.id, Participant.exclude).where(
            Participant.program_id == program_id,
            Participant.id != participant_id,
            cast(Participant.exclude, String).like(f"%{escaped}%", escape="\\"),
        )
    ).all()
    changed = 0
    for ident, exclude in candidates:
        kept = [x for x in exclude or [] if x != external_id]
        if len(kept) != len(exclude or []):
            session.execute(
                update(Participant)
                .where(Participant.id == ident)
                .values(exclude=kept)
                .execution_options(synchronize_session=False)
            )
            changed += 1
    return changed


#: Shorter identifiers are replaced only where they stand alone or quoted, so that
#: an external id like "7" does not rewrite every "7" of a message.
_SUBSTRING_MIN = 4


def scrub(value: Any, needles: Iterable[str], replacement: str) -> Any:
    """``value`` (JSON: str, list, dict, numbers) with the needles replaced in its strings.

    A string equal to a needle is replaced; inside a longer string a needle is
    replaced where quoted (``'e1'``, as messages name people), or anywhere once it is
    at least :data:`_SUBSTRING_MIN` characters long.

    >>> scrub({"pins": [["e1", "m1"]], "n": 2}, ["e1"], "<erased>")
    {'pins': [['<erased>', 'm1']], 'n': 2}
    >>> scrub("pin ['e1', 'm1'] is not allowed", ["e1"], "<erased>")
    "pin [<erased>, 'm1'] is not allowed"
    """
    words = sorted({n for n in needles if n}, key=len, reverse=True)  # longest first
    if isinstance(value, str):
        if value in words:
            return replacement
        for word in words:
            for quoted in (repr(word), f'"{word}"'):
                value = value.replace(quoted, replacement)
            if len(word) >= _SUBSTRING_MIN:
                value = value.replace(word, replacement)
        return value
    if isinstance(value, list):
        return [scrub(v, words, replacement) for v in value]
    if isinstance(value, dict):
        return {
            scrub(k, words, replacement): scrub(v, words, replacement) for k, v in value.items()
        }
    return value


def _scrub_runs(
    session: Session, program_id: uuid.UUID, needles: list[str], replacement: str
) -> int:
    """Replace the person's identifiers in the program's runs; how many runs changed."""
    changed = 0
    rows = session.execute(
        select(Run.id, Run.stats, Run.error, Run.options).where(Run.program_id == program_id)
    ).all()
    for ident, stats, error, options in rows:
        values = {
            "stats": scrub(stats, needles, replacement),
            "error": scrub(error, needles, replacement),
            "options": scrub(options, needles, replacement),
        }
        if values != {"stats": stats, "error": error, "options": options}:
            session.execute(
                update(Run)
                .where(Run.id == ident)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            changed += 1
    return changed

"""Admins racing each other: publications and edits at once, on SQLite and PostgreSQL.

Two runs propose different mentees to the same capacity-1 mentors, so at most one of
them can ever be published. Threads publish both runs and edit or reject one proposal,
all released together. Whatever the interleaving: exactly one publication is recorded,
no mentor holds more published matches than their capacity (nor a mentee more than
one), every refusal is a clean 409/422 (never an unexpected error), and the audit
chain stays valid.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.services import audit, matches, publication
from models import AuditEvent, Match, Participant
from tests.factories import make_match, make_participant, make_run, proposals
from tests.services.races import race


def test_concurrent_publications_and_edits(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        s = proposals(session, pairs=4, spare_mentors=2)
        rival = make_run(session, s.actor, s.program)
        for i, mentor in enumerate(s.mentors[:4]):
            make_match(
                session, rival, make_participant(session, s.program, "mentee", f"r{i}"), mentor
            )
        session.commit()
        actor, program_id, runs = s.actor, s.program.id, (s.run.id, rival.id)
        edited, spares = s.matches[0].id, [m.id for m in s.mentors[4:]]

    def publish(run_id: Any) -> Callable[[Session], Any]:
        return lambda session: publication.publish(session, actor, program_id, run_id)

    def edit(k: int) -> Callable[[Session], Any]:
        if k == 3:
            return lambda session: matches.edit_match(session, actor, edited, status="rejected")
        return lambda session: matches.edit_match(session, actor, edited, mentor_id=spares[k % 2])

    jobs = [publish(runs[k % 2]) for k in range(6)] + [edit(k) for k in range(4)]
    outcomes = race(session_factory, jobs)
    assert not [o for o in outcomes if o.startswith("unexpected")], outcomes
    assert set(outcomes) <= {"ok", "Conflict", "ValidationFailed"}, outcomes

    with session_factory() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "match.published"))
        assert len(list(events)) == 1
        published = list(session.scalars(select(Match).where(Match.status == "published")))
        (winner,) = {m.run_id for m in published}
        # Run 1 publishes its four proposals but the one rejected before it, if the reject won.
        lost = winner == runs[0] and session.get(Match, edited).status == "rejected"
        assert len(published) == (3 if lost else 4)
        per_mentor = Counter(m.mentor_id for m in published)
        for mentor in session.scalars(select(Participant).where(Participant.role == "mentor")):
            assert per_mentor[mentor.id] <= 1  # capacity 1, the program default
            assert mentor.published_load == per_mentor[mentor.id]
        per_mentee = session.execute(
            select(Match.mentee_id, func.count())
            .where(Match.status == "published")
            .group_by(Match.mentee_id)
        ).all()
        assert [n for _, n in per_mentee] == [1] * len(published)
        assert audit.verify(session, actor.organization_id).valid


def test_concurrent_publication_of_one_run_happens_once(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        s = proposals(session, pairs=5, spare_mentors=0)
        actor, program_id, run_id = s.actor, s.program.id, s.run.id

    outcomes = race(
        session_factory,
        [lambda session: publication.publish(session, actor, program_id, run_id)] * 6,
    )
    assert outcomes == ["ok"] * 6  # idempotent: the later ones find nothing left to do
    with session_factory() as session:
        (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "match.published"))
        assert len(event.target_ids) == 5
        loads = session.scalars(
            select(Participant.published_load).where(Participant.role == "mentor")
        )
        assert sorted(loads) == [1] * 5

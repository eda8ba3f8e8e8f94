"""One person, one side: a role never changes under a live match, publication re-checks
who is on which side, and a mentor's capacity never drops below what is published."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from api.services import participants, publication
from api.services.errors import Conflict
from models import Match, Participant
from tests.factories import make_match, make_participant, make_run, proposals
from tests.services.races import race, sweep


@pytest.mark.parametrize("status", ["proposed", "published"])
def test_a_role_change_is_refused_while_a_match_is_live(session: Session, status: str) -> None:
    s = proposals(session, pairs=2)
    if status == "published":
        publication.publish(session, s.actor, s.program.id, s.run.id)
    mentor = s.mentors[0]
    with pytest.raises(Conflict) as refused:
        participants.update_participant(
            session, s.actor, s.program.id, mentor.id, {"role": "mentee"}
        )
    assert str(s.matches[0].id) in refused.value.detail
    assert refused.value.extra["matches"] == [str(s.matches[0].id)]
    session.rollback()
    assert session.get(Participant, mentor.id).role == "mentor"  # type: ignore[union-attr]


def test_a_role_change_is_allowed_once_the_matches_are_closed(session: Session) -> None:
    s = proposals(session, pairs=1)
    s.matches[0].status = "rejected"
    session.commit()
    changed = participants.update_participant(
        session, s.actor, s.program.id, s.mentors[0].id, {"role": "mentee"}
    )
    assert changed.role == "mentee"


@pytest.mark.parametrize(
    ("change", "what"),
    [({"active": False}, "inactive"), ({"role": "mentee"}, "no longer a mentee or mentor")],
)
def test_publication_rechecks_that_both_people_are_active_in_their_roles(
    session: Session, change: dict[str, Any], what: str
) -> None:
    s = proposals(session, pairs=2)
    # Changed behind the proposals' back (a run persisting while the profile changed).
    for key, value in change.items():
        setattr(s.mentors[1], key, value)
    session.commit()
    with pytest.raises(Conflict, match=what) as refused:
        publication.publish(session, s.actor, s.program.id, s.run.id)
    assert str(s.matches[1].id) in refused.value.detail
    session.rollback()
    assert {m.status for m in session.query(Match)} == {"proposed"}
    # The others can still be published, by id.
    done = publication.publish(
        session, s.actor, s.program.id, s.run.id, match_ids=[s.matches[0].id]
    )
    assert done.newly_published == 1


def test_a_capacity_below_the_published_load_is_refused_with_the_numbers(
    session: Session,
) -> None:
    s = proposals(session, pairs=1, spare_mentors=0, capacity=3)
    second = make_participant(session, s.program, "mentee", "e9")
    make_match(session, s.run, second, s.mentors[0])
    session.commit()
    publication.publish(session, s.actor, s.program.id, s.run.id)
    mentor_id = s.mentors[0].id
    with pytest.raises(Conflict, match="2 published") as refused:
        participants.update_participant(session, s.actor, s.program.id, mentor_id, {"capacity": 1})
    assert refused.value.extra["published_load"] == 2
    assert refused.value.extra["capacity"] == 1
    session.rollback()
    assert session.get(Participant, mentor_id).capacity == 3  # type: ignore[union-attr]
    kept = participants.update_participant(
        session, s.actor, s.program.id, mentor_id, {"capacity": 2}
    )
    assert kept.capacity == 2


@pytest.mark.parametrize("attempt", range(4))
def test_lowering_capacity_while_publishing_never_leaves_a_mentor_over(
    session_factory: sessionmaker[Session], attempt: int
) -> None:
    with session_factory() as session:
        s = proposals(session, pairs=1, spare_mentors=0, capacity=2)
        make_match(
            session, s.run, make_participant(session, s.program, "mentee", "e9"), s.mentors[0]
        )
        session.commit()
        actor, program_id, run_id, mentor_id = s.actor, s.program.id, s.run.id, s.mentors[0].id

    def lower(session: Session) -> Any:
        return participants.update_participant(
            session, actor, program_id, mentor_id, {"capacity": 1}
        )

    def publish(session: Session) -> Any:
        return publication.publish(session, actor, program_id, run_id)

    outcomes = race(session_factory, [lower, publish])
    assert outcomes.count("ok") == 1, (attempt, outcomes)
    assert set(outcomes) == {"ok", "Conflict"}, outcomes
    with session_factory() as session:
        sweep(session)


@pytest.mark.parametrize("attempt", range(4))
def test_a_role_change_racing_a_publication_never_puts_a_person_on_both_sides(
    session_factory: sessionmaker[Session], attempt: int
) -> None:
    with session_factory() as session:
        s = proposals(session, pairs=2, spare_mentors=0, capacity=2)
        # m0 is also proposed as the mentee of m1 by a second run: both cannot stand.
        other = make_run(session, s.actor, s.program)
        make_match(session, other, s.mentors[0], s.mentors[1])
        session.commit()
        actor, program_id, runs = s.actor, s.program.id, (s.run.id, other.id)
        m0 = s.mentors[0].id

    def flip(session: Session) -> Any:
        return participants.update_participant(session, actor, program_id, m0, {"role": "mentee"})

    def publish(run_id: Any) -> Any:
        return lambda session: publication.publish(session, actor, program_id, run_id)

    jobs = [flip, publish(runs[0]), publish(runs[1])]
    outcomes = race(session_factory, jobs)
    assert not [o for o in outcomes if o.startswith("unexpected")], (attempt, outcomes)
    with session_factory() as session:
        sweep(session)

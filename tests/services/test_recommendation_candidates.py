"""Recommendations read who is free in one statement; the answer is the rules' own.

:func:`api.services.recommendations.recommend` reads the free candidates (a free
place, active, no earlier match rule 4 refuses) in SQL and maps their ids onto the
cached cohort's positions. These tests compare what it recommends with a brute-force
reading of :mod:`api.services.eligibility`'s rules over every participant: own
capacities and each role's default, published loads below, at and above capacity,
inactive people, earlier matches of every status, and a candidate the cached cohort
does not hold.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import scoring
from api.services import eligibility, recommendations
from api.services.cohort_cache import COHORTS
from api.services.context import Actor
from models import Participant, Program
from models.vocabulary import MatchStatus
from tests.factories import CONFIG, make_match, make_org, make_participant, make_program, make_run

#: Different defaults for each role, so that one read with the other's shows.
_CONFIG: dict[str, Any] = {**CONFIG, "default_capacity": 2, "default_mentee_capacity": 3}
_CAPACITIES = (None, 0, 1, 2, 3, 4)
_LOADS = (0, 1, 2, 3)


def _people(session: Session, program: Program, role: str) -> list[Participant]:
    """Every capacity with every published load, and two inactive people."""
    made = []
    for capacity in _CAPACITIES:
        for load in _LOADS:
            person = make_participant(
                session, program, role, f"{role}-{capacity}-{load}", capacity=capacity
            )
            session.execute(
                update(Participant).where(Participant.id == person.id).values(published_load=load)
            )
            made.append(person)
    made.append(make_participant(session, program, role, f"{role}-idle", active=False))
    made.append(
        make_participant(session, program, role, f"{role}-idle-4", capacity=4, active=False)
    )
    return made


def _scenario(session: Session) -> tuple[Actor, Program, Participant, Participant]:
    actor = make_org(session)
    program = make_program(session, actor, _CONFIG)
    mentee = make_participant(session, program, "mentee", "me-mentee", capacity=4)
    mentor = make_participant(session, program, "mentor", "me-mentor", capacity=30)
    mentors = _people(session, program, "mentor")
    mentees = _people(session, program, "mentee")
    run = make_run(session, actor, program)
    # Earlier matches of every status with partners who have a free place whatever their
    # load (capacity 4): only "proposed" is no bar.
    statuses = list(MatchStatus)
    free_mentors = [m for m in mentors if m.capacity == 4]
    free_mentees = [e for e in mentees if e.capacity == 4]
    for status, partner in zip(statuses, free_mentors, strict=False):
        make_match(session, run, mentee, partner, status=status)
    for status, partner in zip(statuses, free_mentees, strict=False):
        make_match(session, run, partner, mentor, status=status)
    session.commit()
    session.expire_all()
    return actor, program, mentee, mentor


def _expected(session: Session, program: Program, me: Participant) -> set[uuid.UUID]:
    """The free candidates of ``me`` by the rules, one person at a time."""
    earlier = eligibility.previous_partners(session, me)
    return {
        p.id
        for p in session.scalars(select(Participant).where(Participant.program_id == program.id))
        if p.role != me.role
        and p.active
        and p.id not in earlier
        and eligibility.free_places(p, _CONFIG) > 0
    }


def _recommended(
    session: Session, actor: Actor, program: Program, me: Participant
) -> list[dict[str, Any]]:
    return recommendations.recommend(session, actor, program.id, me.id, limit=100).items


@pytest.fixture
def masks(monkeypatch: pytest.MonkeyPatch) -> list[list[bool]]:
    """The candidate masks ``scoring.recommend_from`` is given, one per call."""
    seen: list[list[bool]] = []
    real = scoring.recommend_from

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["candidate_mask"].tolist())
        return real(*args, **kwargs)

    monkeypatch.setattr(scoring, "recommend_from", spy)
    return seen


def _mask(cohort: list[uuid.UUID], free: set[uuid.UUID]) -> list[bool]:
    return [ident in free for ident in cohort]


def test_the_free_candidates_are_the_rules_free_candidates(
    session: Session, masks: list[list[bool]]
) -> None:
    COHORTS.clear()
    actor, program, mentee, mentor = _scenario(session)
    for me in (mentee, mentor):
        expected = _expected(session, program, me)
        # The cohort's other side, in its order (eligibility.active_people's).
        other = "mentor" if me.role == "mentee" else "mentee"
        cohort = [p.id for p in eligibility.active_people(session, program.id, other)]
        # Not everyone, not no one: each of the rules has left someone out.
        assert 0 < len(expected) < len(_CAPACITIES) * len(_LOADS)
        items = _recommended(session, actor, program, me)
        assert masks.pop() == _mask(cohort, expected)
        assert {item["partner"]["id"] for item in items} == expected
        assert len(items) == len(expected)
        scores = [item["score"] for item in items]
        assert scores == sorted(scores, reverse=True)
        # The partner is named as ref() names them.
        by_id = {p.id: p for p in session.scalars(select(Participant))}
        for item in items:
            partner = by_id[item["partner"]["id"]]
            assert item["partner"] == {
                "id": partner.id,
                "external_id": partner.external_id,
                "name": partner.name,
            }
    COHORTS.clear()


def test_a_candidate_the_cached_cohort_does_not_hold_is_left_out(
    session: Session, masks: list[list[bool]]
) -> None:
    """Activated by a machine whose clock is behind: the stamp of the cohort does not
    change, the cached cohort has no place for them, and they are not recommended
    (nor does anyone else move)."""
    COHORTS.clear()
    actor, program, mentee, _mentor = _scenario(session)
    cohort = [p.id for p in eligibility.active_people(session, program.id, "mentor")]
    # The cohort's last mentor has no place left: a position of -1 marking them free shows.
    session.execute(
        update(Participant).where(Participant.id == cohort[-1]).values(published_load=100)
    )
    session.commit()
    before = _recommended(session, actor, program, mentee)
    idle = session.scalars(
        select(Participant).where(
            Participant.program_id == program.id, Participant.external_id == "mentor-idle-4"
        )
    ).one()
    session.execute(
        update(Participant)
        .where(Participant.id == idle.id)
        .values(active=True, updated_at=idle.updated_at)  # the stamp unchanged
    )
    session.commit()
    session.expire_all()
    assert _recommended(session, actor, program, mentee) == before
    free = _expected(session, program, mentee)
    assert idle.id in free
    assert cohort[-1] not in free
    assert masks[-1] == _mask(cohort, free)
    COHORTS.clear()
    fresh = _recommended(session, actor, program, mentee)
    assert idle.id in {item["partner"]["id"] for item in fresh}
    COHORTS.clear()

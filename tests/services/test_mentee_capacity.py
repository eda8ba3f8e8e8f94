"""Several mentors per mentee through the service: later runs fill the places left,
never with a mentor the mentee has or had; publication keeps both sides' capacity in
the database, under concurrency; ending, erasure, edits, pins and recommendations
honour it. On SQLite and PostgreSQL (the ``session`` fixtures)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.services import erasure, matches, publication, recommendations, reports, runs
from api.services.errors import Conflict, ValidationFailed
from models import Match, Participant
from tests.factories import (
    RUN_CONFIG,
    add,
    make_match,
    make_org,
    make_participant,
    make_program,
    make_run,
    reload,
)
from tests.services.races import race, sweep


def run_and_publish(session: Session, factory: sessionmaker[Session], actor: Any, program: Any):
    run = runs.start_run(session, actor, program.id)
    session.rollback()
    assert runs.execute_run(factory, run.id) == "succeeded", reload(session, run.id).error
    publication.publish(session, actor, program.id, run.id)
    return reload(session, run.id)


def mentors_of(session: Session, mentee: Participant, *, run_id: Any = None) -> list[str]:
    stmt = (
        select(Participant.external_id)
        .join(Match, Match.mentor_id == Participant.id)
        .where(Match.mentee_id == mentee.id)
    )
    stmt = stmt.where(Match.run_id == run_id) if run_id else stmt.where(Match.status == "published")
    return sorted(str(x) for x in session.scalars(stmt))


def load(session: Session, person: Participant) -> int:
    session.expire_all()
    value = session.scalar(select(Participant.published_load).where(Participant.id == person.id))
    return int(value or 0)


def test_a_mentee_of_capacity_3_gets_a_second_and_third_mentor_over_later_runs(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    actor = make_org(session)
    program = make_program(session, actor, RUN_CONFIG, commit=True)
    e0 = add(session, program, "mentee", "e0", ["python", "sql", "go"], capacity=3)
    # m0 fits e0 best and keeps free places: only "never again" keeps it away later.
    add(session, program, "mentor", "m0", ["python", "sql", "go"], capacity=3)
    later = [add(session, program, "mentor", f"m{i}", ["python"], active=False) for i in (1, 2, 3)]
    first = run_and_publish(session, session_factory, actor, program)
    assert mentors_of(session, e0, run_id=first.id) == ["m0"]
    assert load(session, e0) == 1

    for k, newcomer in enumerate(later[:2], start=2):
        newcomer.active = True
        session.commit()
        run = run_and_publish(session, session_factory, actor, program)
        # The newcomer fills one more place: never m0 again, never a mentor twice.
        assert mentors_of(session, e0, run_id=run.id) == [newcomer.external_id]
        assert "m0" not in mentors_of(session, e0, run_id=run.id)
        assert run.stats["n_mentees"] == 1
        assert run.stats["mentee_capacity"] == 3 - (k - 1)  # the places left
        assert load(session, e0) == k
    assert mentors_of(session, e0) == ["m0", "m1", "m2"]

    later[2].active = True  # a free mentor, but e0's three places are taken
    session.commit()
    full = runs.start_run(session, actor, program.id)
    session.rollback()
    assert runs.execute_run(session_factory, full.id) == "succeeded"
    full = reload(session, full.id)
    assert full.stats["n_mentees"] == 0
    assert full.stats["already_matched"] == 1


def test_one_run_gives_a_mentee_several_mentors_at_once_each_once(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    actor = make_org(session)
    program = make_program(
        session, actor, {**RUN_CONFIG, "default_mentee_capacity": 2}, commit=True
    )
    e0 = add(session, program, "mentee", "e0", ["python"])
    for i in range(3):
        add(session, program, "mentor", f"m{i}", ["python"], capacity=2)
    run = run_and_publish(session, session_factory, actor, program)
    assert len(mentors_of(session, e0, run_id=run.id)) == 2  # its default places, 2 mentors
    assert run.stats["matched"] == 2
    assert run.stats["mentees_served"] == 1
    assert run.stats["coverage"] == 1.0
    assert run.stats["blocking_pairs"] is None  # defined for one mentor per mentee
    assert load(session, e0) == 2


def test_spread_reports_what_it_cost(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    actor = make_org(session)
    program = make_program(session, actor, {**RUN_CONFIG, "spread": True}, commit=True)
    # Unspread, the star mentor takes both mentees (1.0 + 1.0); spread gives the other a
    # first mentee for a lower total.
    add(session, program, "mentor", "star", ["python", "sql"], capacity=2)
    add(session, program, "mentor", "other", ["python"], capacity=2)
    add(session, program, "mentee", "e0", ["python", "sql"])
    add(session, program, "mentee", "e1", ["python", "sql"])
    run = runs.start_run(session, actor, program.id)
    session.rollback()
    assert runs.execute_run(session_factory, run.id) == "succeeded"
    stats = reload(session, run.id).stats
    assert stats["mentors_used"] == 2
    assert stats["spread"]["mentors_used_without"] == 1
    assert stats["spread"]["total_without"] == pytest.approx(2.0)
    assert stats["spread"]["total_given_up"] == pytest.approx(2.0 - stats["score_total"])
    assert stats["spread"]["total_given_up"] > 0


# ----------------------------------------------------------------- publication


def _two_runs_for_one_mentee(session: Session, *, mentee_capacity: int, same_pair: bool):
    actor = make_org(session)
    program = make_program(session, actor)
    e0 = make_participant(session, program, "mentee", "e0", capacity=mentee_capacity)
    m = [make_participant(session, program, "mentor", f"m{i}", capacity=3) for i in range(3)]
    rivals = [make_run(session, actor, program) for _ in range(3)]
    for k, run in enumerate(rivals):
        make_match(session, run, e0, m[0] if same_pair else m[k])
    session.commit()
    return actor, program, e0, rivals


def test_publication_refuses_going_over_the_mentees_capacity(session: Session) -> None:
    actor, program, e0, rivals = _two_runs_for_one_mentee(
        session, mentee_capacity=2, same_pair=False
    )
    for run in rivals[:2]:
        assert publication.publish(session, actor, program.id, run.id).newly_published == 1
    with pytest.raises(Conflict) as info:
        publication.publish(session, actor, program.id, rivals[2].id)
    assert info.value.detail == (
        "publishing would exceed capacity: mentee e0 (2 published + 1 > capacity 2)"
    )
    assert load(session, e0) == 2


def test_publication_refuses_a_pair_published_before(session: Session) -> None:
    actor, program, _, rivals = _two_runs_for_one_mentee(session, mentee_capacity=3, same_pair=True)
    publication.publish(session, actor, program.id, rivals[0].id)
    with pytest.raises(Conflict, match="pairs already published: e0 with mentor m0"):
        publication.publish(session, actor, program.id, rivals[1].id)


def test_the_mentors_capacity_still_holds(session: Session) -> None:
    actor = make_org(session)
    program = make_program(session, actor)
    mentor = make_participant(session, program, "mentor", "m0", capacity=1)
    rivals = [make_run(session, actor, program) for _ in range(2)]
    for k, run in enumerate(rivals):
        make_match(session, run, make_participant(session, program, "mentee", f"e{k}"), mentor)
    session.commit()
    publication.publish(session, actor, program.id, rivals[0].id)
    with pytest.raises(Conflict, match=r"mentor m0 \(1 published \+ 1 > capacity 1\)"):
        publication.publish(session, actor, program.id, rivals[1].id)


@pytest.mark.parametrize(
    ("capacity", "same_pair", "winners"), [(1, False, 1), (2, False, 2), (3, True, 1)]
)
def test_concurrent_publications_never_pass_either_sides_capacity(
    session_factory: sessionmaker[Session], capacity: int, same_pair: bool, winners: int
) -> None:
    with session_factory() as session:
        actor, program, e0, rivals = _two_runs_for_one_mentee(
            session, mentee_capacity=capacity, same_pair=same_pair
        )
        program_id, mentee_id = program.id, e0.id

    def publish(run_id: uuid.UUID) -> Callable[[Session], Any]:
        return lambda session: publication.publish(session, actor, program_id, run_id)

    outcomes = race(session_factory, [publish(run.id) for run in rivals])
    assert sorted(outcomes) == sorted(["ok"] * winners + ["Conflict"] * (3 - winners)), outcomes
    with session_factory() as session:
        sweep(session)
        published = session.scalars(
            select(Match).where(Match.mentee_id == mentee_id, Match.status == "published")
        ).all()
        assert len(published) == winners
        assert session.get(Participant, mentee_id).published_load == winners  # type: ignore[union-attr]


# ----------------------------------------------------------------- release, review


def test_ending_and_erasure_release_the_mentees_places(session: Session) -> None:
    actor, program, e0, rivals = _two_runs_for_one_mentee(
        session, mentee_capacity=2, same_pair=False
    )
    for run in rivals[:2]:
        publication.publish(session, actor, program.id, run.id)
    first, second = (
        session.scalars(select(Match).where(Match.run_id == run.id)).one() for run in rivals[:2]
    )
    publication.end_match(session, actor, first.id, reason="moved on")
    assert load(session, e0) == 1
    mentor = session.get(Participant, second.mentor_id)
    assert mentor is not None
    erasure.erase_participant(session, actor, program.id, mentor.id)
    assert load(session, e0) == 0
    # Both places free again: the third run's proposal publishes.
    assert publication.publish(session, actor, program.id, rivals[2].id).newly_published == 1


def test_an_edit_never_proposes_a_pair_twice_in_one_run(session: Session) -> None:
    actor = make_org(session)
    program = make_program(session, actor)
    e0 = make_participant(session, program, "mentee", "e0", capacity=2)
    m0, m1 = (make_participant(session, program, "mentor", f"m{i}") for i in range(2))
    run = make_run(session, actor, program)
    keep, move = make_match(session, run, e0, m0), make_match(session, run, e0, m1)
    session.commit()
    with pytest.raises(ValidationFailed) as info:
        matches.edit_match(session, actor, move.id, mentor_id=m0.id)
    assert "mentor m0 is already proposed to this mentee in this run" in str(info.value.errors)
    assert keep.status == "proposed"


def test_pins_respect_the_mentees_places(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    actor = make_org(session)
    program = make_program(session, actor, RUN_CONFIG, commit=True)
    add(session, program, "mentee", "e0", ["python"], capacity=2)
    for i in range(3):
        add(session, program, "mentor", f"m{i}", ["python"])
    with pytest.raises(ValidationFailed) as info:
        runs.start_run(session, actor, program.id, pins=[["e0", f"m{i}"] for i in range(3)])
    assert info.value.errors == {
        "pins.2": ["mentee 'e0' is pinned 3 times but has 2 free place(s)"]
    }
    session.rollback()
    run = runs.start_run(session, actor, program.id, pins=[["e0", "m0"], ["e0", "m2"]])
    session.rollback()
    assert runs.execute_run(session_factory, run.id) == "succeeded"
    e0 = session.scalars(select(Participant).where(Participant.external_id == "e0")).one()
    assert mentors_of(session, e0, run_id=run.id) == ["m0", "m2"]


def test_recommendations_fill_the_places_left_without_the_mentor_it_has(
    session: Session,
) -> None:
    actor, program, e0, rivals = _two_runs_for_one_mentee(
        session, mentee_capacity=2, same_pair=False
    )
    publication.publish(session, actor, program.id, rivals[0].id)  # e0 with m0
    found = recommendations.recommend(session, actor, program.id, e0.id)
    assert sorted(i["partner"]["external_id"] for i in found.items) == ["m1", "m2"]
    m1 = session.scalars(select(Participant).where(Participant.external_id == "m1")).one()
    assert [
        i["partner"]["external_id"]
        for i in recommendations.recommend(session, actor, program.id, m1.id).items
    ] == ["e0"]  # one place left
    publication.publish(session, actor, program.id, rivals[1].id)
    full = recommendations.recommend(session, actor, program.id, e0.id)
    assert (full.items, full.note) == ([], recommendations.ALREADY_MATCHED)


# ----------------------------------------------------------------- report


def test_the_report_shows_the_mentees_load_beside_the_mentors(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    actor = make_org(session)
    program = make_program(
        session, actor, {**RUN_CONFIG, "default_mentee_capacity": 2}, commit=True
    )
    add(session, program, "mentee", "e0", ["python"])
    add(session, program, "mentee", "e1", ["python"], capacity=1)
    add(session, program, "mentee", "e2", ["python"], languages=["xx"])  # no shared language
    for i in range(2):
        add(session, program, "mentor", f"m{i}", ["python"], capacity=2)
    run = runs.start_run(session, actor, program.id)
    session.rollback()
    assert runs.execute_run(session_factory, run.id) == "succeeded"
    report = reports.program_report(session, actor, program.id)
    # e0 takes both mentors, e1 one, e2 none: 3 pairs over 2 of 3 mentees.
    assert report["mentee_load"] == [
        {"pairs": 0, "mentees": 1},
        {"pairs": 1, "mentees": 1},
        {"pairs": 2, "mentees": 1},
    ]
    assert report["mentor_load"] == [{"pairs": 1, "mentors": 1}, {"pairs": 2, "mentors": 1}]
    assert report["match_rate"]["run_matched"] == 2  # mentees with a mentor, not pairs
    assert report["quality"]["status"] == "skipped"
    assert "several mentors" in report["quality"]["reason"]


def test_scope_unmatched_keeps_a_pending_proposal_and_fills_the_place_left(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    actor = make_org(session)
    program = make_program(session, actor, RUN_CONFIG, commit=True)
    e0 = add(session, program, "mentee", "e0", ["python"], capacity=2)
    add(session, program, "mentor", "m0", ["python"], capacity=2)
    late = add(session, program, "mentor", "m1", ["python"], active=False)
    first = runs.start_run(session, actor, program.id)
    session.rollback()
    assert runs.execute_run(session_factory, first.id) == "succeeded"
    assert mentors_of(session, e0, run_id=first.id) == ["m0"]  # pending, not published
    late.active = True
    session.commit()
    second = runs.start_run(session, actor, program.id, scope="unmatched")
    session.rollback()
    assert runs.execute_run(session_factory, second.id) == "succeeded"
    # The kept proposal holds one of e0's places and its pair is not proposed again.
    assert mentors_of(session, e0, run_id=second.id) == ["m1"]
    assert reload(session, second.id).stats["proposals_kept"] == 1

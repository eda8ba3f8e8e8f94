"""Self-match recommendations: feasible partners with room, ranked, from one row."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

import scoring
from api.services import publication, recommendations
from api.services.errors import NotFound
from tests.factories import make_match, make_org, make_participant, make_program, make_run


def _ext(result: recommendations.Recommendations) -> list[str]:
    return [item["partner"]["external_id"] for item in result.items]


def test_mentee_gets_mentors_with_room_best_first(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    actor = make_org(session)
    program = make_program(session, actor)
    me = make_participant(session, program, "mentee", "me", skills=["python", "sql"])
    make_participant(session, program, "mentor", "both", skills=["python", "sql"])
    make_participant(session, program, "mentor", "half", skills=["python"])
    make_participant(session, program, "mentor", "none", skills=["go"])
    make_participant(session, program, "mentor", "french", skills=["python"], languages=["fr"])
    make_participant(session, program, "mentor", "idle", skills=["python", "sql"], active=False)
    full = make_participant(session, program, "mentor", "full", skills=["python", "sql"])
    other = make_participant(session, program, "mentee", "other")
    run = make_run(session, actor, program)
    make_match(session, run, other, full)
    session.commit()
    publication.publish(session, actor, program.id, run.id)

    calls: list[dict[str, object]] = []
    real = scoring.recommend_from

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(scoring, "recommend_from", spy)
    result = recommendations.recommend(session, actor, program.id, me.id, limit=10)
    assert result.role == "mentee"
    assert result.participant["external_id"] == "me"
    # French speaker: required language; idle: inactive; full: no free place.
    assert _ext(result) == ["both", "half", "none"]
    scores = [item["score"] for item in result.items]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(1.0)
    assert result.items[0]["reasons"] == [
        "Mentor offers 2 of the 2 skills the mentee wants: python, sql",
        "Shared languages: en",
    ]
    assert [b["criterion"] for b in result.items[0]["breakdown"]] == ["skills", "shared_language"]
    assert [call["k"] for call in calls] == [10]  # the one-row path, never the whole matrix

    assert _ext(recommendations.recommend(session, actor, program.id, me.id, limit=1)) == ["both"]


def test_mentor_gets_mentees_without_a_published_match(session: Session) -> None:
    actor = make_org(session)
    program = make_program(session, actor)
    mentor = make_participant(session, program, "mentor", "boss", skills=["python"], capacity=3)
    taken = make_participant(session, program, "mentee", "taken", skills=["python"])
    make_participant(session, program, "mentee", "fits", skills=["python"])
    make_participant(session, program, "mentee", "meh", skills=["go"])
    run = make_run(session, actor, program)
    make_match(session, run, taken, mentor)
    session.commit()
    publication.publish(session, actor, program.id, run.id)
    result = recommendations.recommend(session, actor, program.id, mentor.id)
    assert result.role == "mentor"
    assert _ext(result) == ["fits", "meh"]


def test_recommendations_of_another_organization_are_404(session: Session) -> None:
    actor = make_org(session)
    program = make_program(session, actor)
    me = make_participant(session, program, "mentee", "me")
    session.commit()
    intruder = make_org(session, "Globex")
    with pytest.raises(NotFound):
        recommendations.recommend(session, intruder, program.id, me.id)
    assert recommendations.recommend(session, actor, program.id, me.id).items == []


def test_a_matched_mentee_and_a_full_mentor_get_no_one_and_are_told_why(
    session: Session,
) -> None:
    actor = make_org(session)
    program = make_program(session, actor)
    mentee = make_participant(session, program, "mentee", "matched")
    mentor = make_participant(session, program, "mentor", "full")  # capacity 1 by default
    make_participant(session, program, "mentor", "free")
    make_participant(session, program, "mentee", "waiting")
    run = make_run(session, actor, program)
    make_match(session, run, mentee, mentor)
    session.commit()
    # Before publication both have a partner each (equal scores: in no particular order).
    for person, partners in ((mentee, {"full", "free"}), (mentor, {"matched", "waiting"})):
        before = recommendations.recommend(session, actor, program.id, person.id)
        assert before.note is None
        assert sorted(_ext(before)) == sorted(partners)
    publication.publish(session, actor, program.id, run.id)

    taken = recommendations.recommend(session, actor, program.id, mentee.id)
    assert taken.items == []
    assert taken.note == "already matched"
    full = recommendations.recommend(session, actor, program.id, mentor.id)
    assert full.items == []
    assert full.note == "no free place"

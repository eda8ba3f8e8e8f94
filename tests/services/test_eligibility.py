"""The matching rules of api.services.eligibility, as every caller sees them.

Rule 4 ("a pair published, ended or rejected is not proposed again") used to hold
for runs only: an admin's edit could re-create a rejected pair and recommendations
offered it. These tests pin the one rule down for edits, recommendations and the
cohort's pure build step, and the audited override.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import scoring
from api.services import eligibility, matches, publication, recommendations, runs
from api.services.errors import ValidationFailed
from api.services.runs.cohort import RunError, build_cohort
from models import AuditEvent, Match, WeightsVersion
from tests.factories import (
    RUN_CONFIG,
    add,
    make_match,
    make_org,
    make_participant,
    make_program,
    make_run,
    proposals,
    reload,
)


def _edited_events(session: Session) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "match.edited")))


def _rejected_then_reproposed(session: Session):
    """e0 -> m0 rejected in run 1; run 2 proposes e0 -> m1, and m0 has room."""
    s = proposals(session, pairs=1, spare_mentors=1, unmatched=0)
    matches.edit_match(session, s.actor, s.matches[0].id, status="rejected")
    run2 = make_run(session, s.actor, s.program)
    again = make_match(session, run2, s.mentees[0], s.mentors[1])
    session.commit()
    return s, again


def test_an_edit_refuses_a_pair_rejected_before(session: Session) -> None:
    s, again = _rejected_then_reproposed(session)
    with pytest.raises(ValidationFailed) as info:
        matches.edit_match(session, s.actor, again.id, mentor_id=s.mentors[0].id)
    (message,) = info.value.errors["mentor_id"]
    assert message.startswith("mentee and mentor m0 were proposed and rejected before (")
    assert message.endswith(
        "a pair that was published or rejected is not proposed again; "
        "set allow_previous_pair to propose it anyway"
    )
    session.rollback()
    assert session.get(Match, again.id).mentor_id == s.mentors[1].id
    assert _edited_events(session) == []


def test_an_admin_may_override_it_and_the_audit_entry_says_so(session: Session) -> None:
    s, again = _rejected_then_reproposed(session)
    edited = matches.edit_match(
        session, s.actor, again.id, mentor_id=s.mentors[0].id, allow_previous_pair=True
    )
    assert edited["mentor"]["external_id"] == "m0"
    assert edited["edited_by"] == s.actor.admin_id
    (event,) = _edited_events(session)
    assert event.details == {
        "from_mentor_id": str(s.mentors[1].id),
        "to_mentor_id": str(s.mentors[0].id),
        "overrode_previous_pair": "rejected",
    }


def test_an_ordinary_edit_records_no_override(session: Session) -> None:
    s = proposals(session, pairs=1, spare_mentors=1, unmatched=0)
    matches.edit_match(
        session, s.actor, s.matches[0].id, mentor_id=s.mentors[1].id, allow_previous_pair=True
    )
    (event,) = _edited_events(session)
    assert "overrode_previous_pair" not in event.details


def test_the_override_reopens_an_ended_pair_too(session: Session) -> None:
    s = proposals(session, pairs=1, spare_mentors=1, unmatched=0)
    publication.publish(session, s.actor, s.program.id, s.run.id)
    publication.end_match(session, s.actor, s.matches[0].id, reason="paused")
    run2 = make_run(session, s.actor, s.program)
    again = make_match(session, run2, s.mentees[0], s.mentors[1])
    session.commit()
    edited = matches.edit_match(
        session, s.actor, again.id, mentor_id=s.mentors[0].id, allow_previous_pair=True
    )
    assert edited["mentor"]["external_id"] == "m0"
    (event,) = _edited_events(session)
    assert event.details["overrode_previous_pair"] == "ended"


def test_an_ongoing_published_pair_is_never_overridden(session: Session) -> None:
    actor = make_org(session)
    program = make_program(session, actor)
    mentee = make_participant(session, program, "mentee", "e0")
    m0, m1 = (make_participant(session, program, "mentor", f"m{i}", capacity=2) for i in range(2))
    run1 = make_run(session, actor, program)
    make_match(session, run1, mentee, m0, status="published")
    run2 = make_run(session, actor, program)
    stray = make_match(session, run2, mentee, m1)
    session.commit()
    with pytest.raises(ValidationFailed) as info:
        matches.edit_match(session, actor, stray.id, mentor_id=m0.id, allow_previous_pair=True)
    (message,) = info.value.errors["mentor_id"]
    assert message.startswith("mentee and mentor m0 are already matched (published ")


def test_the_override_applies_to_a_change_of_mentor_only(session: Session) -> None:
    s = proposals(session, pairs=1, unmatched=0)
    with pytest.raises(ValidationFailed) as info:
        matches.edit_match(
            session, s.actor, s.matches[0].id, status="rejected", allow_previous_pair=True
        )
    assert info.value.errors == {"allow_previous_pair": ["only applies to a change of mentor"]}


def test_recommendations_skip_partners_rejected_before_on_both_sides(session: Session) -> None:
    actor = make_org(session)
    program = make_program(session, actor)
    mentee = make_participant(session, program, "mentee", "e0", skills=["python"])
    shunned = make_participant(session, program, "mentor", "shunned", skills=["python"])
    make_participant(session, program, "mentor", "other", skills=["python"])
    run = make_run(session, actor, program)
    make_match(session, run, mentee, shunned, status="rejected")
    session.commit()

    for_mentee = recommendations.recommend(session, actor, program.id, mentee.id)
    assert [i["partner"]["external_id"] for i in for_mentee.items] == ["other"]
    for_mentor = recommendations.recommend(session, actor, program.id, shunned.id)
    assert for_mentor.items == []
    assert for_mentor.note is None


def test_previous_pairs_are_the_published_ended_and_rejected_ones(session: Session) -> None:
    actor = make_org(session)
    program = make_program(session, actor)
    e = [make_participant(session, program, "mentee", f"e{i}") for i in range(4)]
    m = make_participant(session, program, "mentor", "m", capacity=4)
    run = make_run(session, actor, program)
    for person, status in zip(e, ["proposed", "published", "ended", "rejected"], strict=True):
        make_match(session, run, person, m, status=status)
    session.commit()
    assert eligibility.previous_pairs(session, program.id) == {(e[i].id, m.id) for i in (1, 2, 3)}
    assert eligibility.previous_partners(session, m) == {e[1].id, e[2].id, e[3].id}


def test_capacity_is_the_own_else_the_default_scalar_and_vectorized() -> None:
    config = {"default_capacity": 3}
    profiles = [{"capacity": None}, {"capacity": 0}, {"capacity": 5}, {}]
    np.testing.assert_array_equal(eligibility.capacities(profiles, config), [3, 0, 5, 3])
    assert [eligibility.capacity_of(p, config) for p in profiles] == [3, 0, 5, 3]
    assert eligibility.capacity_of({"capacity": None}, {}) == 1


# ----------------------------------------------------------------- the cohort's build step


def _person(role: str, ext: str, capacity: int | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        id=uuid.uuid4(),
        role=role,
        external_id=ext,
        name=ext,
        email=None,
        position=None,
        level=None,
        skills=[],
        capacity=capacity,
        attributes={},
        exclude=[],
        active=True,
        erased_at=None,
    )


def _build(people, **kw):
    run = SimpleNamespace(organization_id=uuid.uuid4(), program_id=uuid.uuid4(), objective="total")
    facts = {
        "published": [],
        "kept": [],
        "never_again": set(),
        "pins": (),
        "priority": set(),
        "priority_bonus": 0.0,
        "weights": None,
        "weights_version": None,
    }
    return build_cohort(run, {"default_capacity": 2}, people, **{**facts, **kw})


def test_build_leaves_out_published_and_kept_mentees_and_counts_their_places() -> None:
    e0, e1, e2 = (_person("mentee", f"e{i}") for i in range(3))
    m0, m1 = _person("mentor", "m0"), _person("mentor", "m1", capacity=1)
    cohort = _build([e0, e1, e2, m0, m1], published=[(e0.id, m0.id)], kept=[(e1.id, m1.id)])
    assert cohort.mentee_ids == [e2.id]
    assert cohort.mentor_ids == [m0.id, m1.id]
    np.testing.assert_array_equal(cohort.capacity, [1, 0])
    assert cohort.info == {
        "already_matched": 1,
        "published_kept": 1,
        "proposals_kept": 1,
        "capacity_used_by_published": 2,
    }


def test_build_excludes_previous_pairs_unless_pinned() -> None:
    e0, e1 = _person("mentee", "e0"), _person("mentee", "e1")
    m0 = _person("mentor", "m0")
    never = {(e0.id, m0.id), (e1.id, m0.id)}
    assert _build([e0, e1, m0], never_again=never).exclude_pairs == [(0, 0), (1, 0)]
    pinned = _build([e0, e1, m0], never_again=never, pins=[("e1", "m0")])
    assert pinned.exclude_pairs == [(0, 0)]
    assert pinned.pins == [(1, 0)]


def test_build_refuses_a_pin_of_someone_left_out() -> None:
    e0, m0 = _person("mentee", "e0"), _person("mentor", "m0")
    with pytest.raises(RunError, match=r"pin \['e0', 'm0'\]: no longer an active mentee"):
        _build([e0, m0], published=[(e0.id, m0.id)], pins=[("e0", "m0")])


def test_a_recommended_pair_scores_what_an_edit_gives_it_with_text_similarity(
    session: Session,
) -> None:
    # TF-IDF weights depend on the encoded cohort: recommendations encode the whole
    # active cohort, as runs and edits do, so the scores agree exactly.
    config = {
        "fields": [{"key": "languages", "type": "multi"}, {"key": "goals", "type": "text"}],
        "criteria": [
            {"name": "skills", "kind": "skill_overlap", "weight": 1},
            {"name": "goals", "kind": "text_similarity", "field": "goals", "weight": 2},
        ],
    }
    actor = make_org(session)
    program = make_program(session, actor, config)
    goals = ["lead a data team", "learn rust and go", "public speaking", "data engineering"]
    people = [
        make_participant(session, program, role, f"{role}{i}", skills=["python", "go"][: i % 2 + 1])
        for role in ("mentee", "mentor")
        for i in range(4)
    ]
    for person, text in zip(people, goals * 2, strict=True):
        person.attributes = {"languages": ["en"], "goals": text}
    session.commit()
    me = people[0]
    found = recommendations.recommend(session, actor, program.id, me.id, limit=4)
    mentors = {p.id: p for p in people[4:]}
    chosen = [mentors[item["partner"]["id"]] for item in found.items]
    explained = eligibility.explain_pairs(
        session, program.id, [(me, m) for m in chosen], config=scoring.validate_config(config)
    )
    assert [item["score"] for item in found.items] == [e.score for e in explained]
    assert len(chosen) == 4


# ----------------------------------------------------------------- rule 7: weights


def _version(source: str, weights: dict[str, float]) -> SimpleNamespace:
    return SimpleNamespace(source=source, weights=weights, version=2)


def test_a_learned_version_applies_to_the_criteria_the_config_has() -> None:
    config = {"criteria": [{"name": "skills"}, {"name": "goals"}]}
    learned = _version("learned", {"skills": 3.0, "gone": 5.0})
    # "gone" was removed from the config since: dropped, never an unknown weight;
    # "goals" is new: it keeps the configuration's weight (scoring's rule for absent names).
    assert eligibility.scoring_weights(config, learned) == {"skills": 3.0}
    assert eligibility.scoring_weights(config, None) is None


def test_the_prior_always_means_the_configurations_current_weights() -> None:
    config = {"criteria": [{"name": "skills", "weight": 5}]}
    snapshot = _version("prior", {"skills": 1.0})  # version 1 as it was first stored
    assert eligibility.scoring_weights(config, snapshot) is None


def test_a_run_survives_a_criterion_removed_after_learning(session, session_factory) -> None:
    actor = make_org(session)
    program = make_program(session, actor, RUN_CONFIG, commit=True)
    add(session, program, "mentor", "m1", ["python"])
    add(session, program, "mentee", "e1", ["python"])
    session.add(
        WeightsVersion(
            id=uuid.uuid4(),
            organization_id=program.organization_id,
            program_id=program.id,
            version=2,
            weights={"skills": 2.0, "shared_language": 0.0, "extra": 1.0},
            source="learned",
            active=True,
        )
    )
    session.commit()
    # "extra" is a criterion the configuration no longer has.
    run = runs.start_run(session, actor, program.id)
    session.rollback()
    assert runs.execute_run(session_factory, run.id) == "succeeded"
    done = reload(session, run.id)
    assert done.weights_version == 2
    (match,) = session.scalars(select(Match).where(Match.run_id == run.id))
    assert {b["criterion"]: b["weight"] for b in match.breakdown} == {
        "skills": 1.0,
        "shared_language": 0.0,
    }

"""Explanations: breakdowns sum to the score, reasons only from evidence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scoring
from scoring.synthetic import generate_cohort
from tests.scoring.strategies import cohorts, configs


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_breakdown_sums_to_dense_score(data: st.DataObject) -> None:
    mentees, mentors = data.draw(cohorts())
    c = scoring.compatibility(mentees, mentors, data.draw(configs()))
    i, j = np.indices(c.shape).reshape(2, -1)
    for e in scoring.explain(c, i, j):
        contributions = [b["contribution"] for b in e.breakdown]
        assert sum(contributions) == pytest.approx(e.score, abs=1e-9)
        assert e.score == pytest.approx(float(c.scores[e.mentee, e.mentor]), abs=1e-6)
        assert sum(b["weight"] for b in e.breakdown) == pytest.approx(1.0)
        assert [b["criterion"] for b in e.breakdown] == list(c.criteria)
        assert all(0 <= b["similarity"] <= 1 for b in e.breakdown)
        assert e.allowed == bool(c.allowed[e.mentee, e.mentor])
        assert (not e.allowed) == bool(e.blocked_by)


def test_skill_reasons_match_whole_skills_only() -> None:
    cfg = {"criteria": [{"name": "skills", "kind": "skill_overlap"}]}
    c = scoring.compatibility(
        [{"skills": ["AI", "Python", "sql", "go"]}],
        [{"skills": ["retail", "python", "golang", "SQL "]}],
        cfg,
    )
    (e,) = scoring.explain(c, 0, 0)
    assert e.score == pytest.approx(0.5)
    assert e.reasons == ["Mentor offers 2 of the 4 skills the mentee wants: python, sql"]
    assert "ai" not in e.reasons[0].split(": ")[1]


def test_reasons_of_every_kind_cite_the_data() -> None:
    mentees, mentors, cfg = generate_cohort(1, 1, seed=0)
    mentee, mentor = mentees[0], mentors[0]
    mentee.update(position="Associate", skills=["python", "sql", "leadership", "go"])
    mentor.update(position="Manager", skills=["sql", "python", "leadership"])
    mentee["attributes"] = {
        "department": "eng",
        "location": "Chicago",
        "languages": ["english", "german"],
        "utc_offset": -6,
        "goals": "Grow into data engineering leadership",
    }
    mentor["attributes"] = {
        "department": "sales",
        "location": "Chicago",
        "languages": ["german"],
        "utc_offset": -5,
        "goals": "I coach data engineering teams",
    }
    (e,) = scoring.explain(scoring.compatibility([mentee], [mentor], cfg), 0, 0)
    assert e.allowed
    assert (
        e.reasons[0] == "Mentor offers 3 of the 4 skills the mentee wants: python, sql, leadership"
    )
    assert "Mentor is 2 levels senior (Associate -> Manager)" in e.reasons
    assert "Same location: Chicago" in e.reasons
    assert "Different department: mentee in eng, mentor in sales" in e.reasons
    assert "Shared languages: german" in e.reasons
    assert "Close utc_offset: -6 and -5 (difference 1)" in e.reasons
    text = next(r for r in e.reasons if r.startswith("Similar goals"))
    assert set(text.split(": ")[1].split(", ")) == {"data", "engineering"}


def test_no_reason_without_evidence() -> None:
    cfg = generate_cohort(1, 1, seed=0)[2]
    mentee = {"external_id": "e", "position": "Director", "skills": ["ai"], "attributes": {
        "department": "eng", "location": "Berlin", "languages": ["english"], "utc_offset": 1,
        "goals": "the and of"}}  # fmt: skip
    mentor = {"external_id": "m", "position": "Intern", "skills": ["retail"], "attributes": {
        "department": "eng", "location": "Sydney", "languages": ["french"], "utc_offset": 10,
        "goals": "the and of"}}  # fmt: skip
    c = scoring.compatibility([mentee], [mentor], cfg)
    (e,) = scoring.explain(c, 0, 0)
    assert e.reasons == []
    assert e.allowed is False
    assert e.blocked_by == [
        "required criterion 'other_department' is not met",
        "required criterion 'shared_language' is not met",
    ]


def test_explain_is_vectorized_and_validates_indices() -> None:
    mentees, mentors, cfg = generate_cohort(20, 15, seed=3)
    c = scoring.compatibility(mentees, mentors, cfg)
    expl = c.explain(np.arange(10), np.arange(10))
    assert [(e.mentee, e.mentor) for e in expl] == [(k, k) for k in range(10)]
    assert expl[3].mentee_id == "e3"
    assert expl[3].mentor_id == "m3"
    assert expl[0].to_dict().keys() == {"score", "breakdown", "reasons"}
    with pytest.raises(ValueError, match="mentor: index 15 out of range"):
        scoring.explain(c, 0, 15)
    with pytest.raises(ValueError, match="as many mentee as mentor"):
        scoring.explain(c, [0, 1], [0])
    with pytest.raises(ValueError, match="integer indices"):
        scoring.explain(c, 0.5, 1)


def test_self_pairs_and_exclusions_in_both_directions() -> None:
    cfg = {"criteria": [{"name": "s", "kind": "skill_overlap"}]}
    mentees = [
        {"external_id": "a", "skills": ["x"]},
        {"external_id": "b", "skills": ["x"], "exclude": ["m2"]},
        {"external_id": "c", "skills": ["x"]},
    ]
    mentors = [
        {"external_id": "a", "skills": ["x"]},
        {"external_id": "m2", "skills": ["x"]},
        {"external_id": "m3", "skills": ["x"], "exclude": ["c", "unknown"]},
    ]
    c = scoring.compatibility(mentees, mentors, cfg, exclude_pairs=[(0, 2)])
    expected = np.array([[0, 1, 0], [1, 0, 1], [1, 1, 0]], dtype=bool)
    np.testing.assert_array_equal(c.allowed, expected)
    np.testing.assert_array_equal(c.scores, 1)
    (e,) = scoring.explain(c, 1, 1)
    assert e.blocked_by == ["pair is excluded (same person, exclusion list or existing match)"]


def test_identical_reasons_are_merged_and_ordered_by_contribution() -> None:
    # Two criteria of one kind (the stacked grade rule) give one sentence, ranked by
    # their summed contribution (0.3 + 0.3) above a single larger one (0.4).
    cfg = {
        "position_levels": ["G7", "G6", "SCS1"],
        "criteria": [
            {"name": "skills", "kind": "skill_overlap", "weight": 4},
            {"name": "one_up", "kind": "seniority_gap", "weight": 3,
             "params": {"points": {"1": 1}}},
            {"name": "near", "kind": "seniority_gap", "weight": 3,
             "params": {"min_gap": 1, "ideal_gap": 1, "max_gap": 2}},
        ],
    }  # fmt: skip
    mentee = {"position": "G7", "skills": ["python"]}
    c = scoring.compatibility([mentee], [{"position": "G6", "skills": ["python"]}], cfg)
    (e,) = scoring.explain(c, 0, 0)
    assert [b["contribution"] for b in e.breakdown] == pytest.approx([0.4, 0.3, 0.3])
    assert e.reasons == [
        "Mentor is 1 level senior (G7 -> G6)",
        "Mentor offers 1 of the 1 skill the mentee wants: python",
    ]
    # Alone, the larger single contribution comes first; equal ones keep config order.
    c = scoring.compatibility([mentee], [{"position": "G6", "skills": ["python"]}],
                              cfg, weights={"near": 0.0})  # fmt: skip
    assert scoring.explain(c, 0, 0)[0].reasons == [
        "Mentor offers 1 of the 1 skill the mentee wants: python",
        "Mentor is 1 level senior (G7 -> G6)",
    ]

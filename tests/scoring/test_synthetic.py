"""Synthetic cohorts are deterministic, valid and realistic."""

from __future__ import annotations

from collections import Counter

import pytest

import scoring
from scoring.synthetic import LEVELS, generate_cohort


def test_deterministic_and_seed_dependent() -> None:
    assert generate_cohort(30, 20, seed=5) == generate_cohort(30, 20, seed=5)
    assert generate_cohort(30, 20, seed=5)[0] != generate_cohort(30, 20, seed=6)[0]


def test_shape_and_validity() -> None:
    mentees, mentors, cfg = generate_cohort(400, 300, seed=1)
    scoring.validate_config(cfg)
    assert len(mentees) == 400
    assert len(mentors) == 300
    assert all(1 <= m["capacity"] <= 3 for m in mentors)
    assert all(p["capacity"] is None for p in mentees)
    for p in mentees[:50] + mentors[:50]:
        scoring.validate_participant(p, cfg)
    # Seniority pyramid: mentors sit higher than mentees.
    rank = {name: k for k, name in enumerate(LEVELS)}
    mean = lambda ps: sum(rank[p["position"]] for p in ps) / len(ps)  # noqa: E731
    assert mean(mentors) > mean(mentees) + 1
    # Zipf skills: the most common skill is far more common than the median one.
    counts = Counter(s for p in mentees for s in p["skills"]).most_common()
    assert counts[0][1] > 5 * counts[len(counts) // 2][1]


def test_rejects_negative_sizes() -> None:
    with pytest.raises(ValueError, match="sizes >= 0"):
        generate_cohort(-1, 3, seed=0)

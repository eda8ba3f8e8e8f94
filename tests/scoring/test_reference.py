"""The vectorized engine equals the per-pair reference on random small cohorts."""

from __future__ import annotations

from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scoring
from scoring.criteria import base as criteria_base
from tests.scoring.reference import reference
from tests.scoring.strategies import KIND_FIELD, cohorts, configs

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_against_reference(
    mentees: list[dict[str, Any]],
    mentors: list[dict[str, Any]],
    config: dict[str, Any],
    weights: dict[str, float] | None = None,
    exclude_pairs: list[tuple[int, int]] | None = None,
) -> None:
    ref_scores, ref_allowed, ref_sims = reference(mentees, mentors, config, weights, exclude_pairs)
    c = scoring.compatibility(
        mentees, mentors, config, weights=weights, exclude_pairs=exclude_pairs, block_rows=2
    )
    assert c.scores.dtype == np.float32
    assert c.scores.shape == c.allowed.shape == (len(mentees), len(mentors))
    assert np.all((c.scores >= 0) & (c.scores <= 1))
    np.testing.assert_allclose(c.scores, np.array(ref_scores), atol=2e-6)
    np.testing.assert_array_equal(c.allowed, np.array(ref_allowed))
    # Pairwise similarities (explanations) equal the reference too.
    i, j = np.indices(c.scores.shape).reshape(2, -1)
    expl = scoring.explain(c, i, j)
    sims = np.array([[b["similarity"] for b in e.breakdown] for e in expl])
    # float32 TF-IDF: 1e-6 is its precision
    np.testing.assert_allclose(sims, np.array(ref_sims).reshape(len(i), -1), atol=1e-6)
    assert [e.allowed for e in expl] == np.array(ref_allowed).reshape(-1).tolist()
    # Lazy rows are the dense matrix.
    lazy = scoring.lazy_compatibility(
        mentees, mentors, config, weights=weights, exclude_pairs=exclude_pairs, block_rows=3
    )
    np.testing.assert_allclose(lazy.rows(0, len(mentees)), c.scores, atol=1e-6)
    np.testing.assert_array_equal(lazy.allowed_rows(0, len(mentees)), c.allowed)


@pytest.mark.parametrize("kind", list(KIND_FIELD))
@SETTINGS
@given(data=st.data())
def test_each_kind_alone_equals_reference(kind: str, data: st.DataObject) -> None:
    mentees, mentors = data.draw(cohorts())
    config = data.draw(configs([kind]))
    check_against_reference(mentees, mentors, config)


@SETTINGS
@given(data=st.data())
def test_combinations_with_weights_and_exclusions_equal_reference(data: st.DataObject) -> None:
    mentees, mentors = data.draw(cohorts())
    config = data.draw(configs())
    names = [c["name"] for c in config["criteria"]]
    weights = data.draw(
        st.none() | st.dictionaries(st.sampled_from(names), st.sampled_from([0.0, 0.25, 1.0, 4.0]))
    )
    pairs = data.draw(
        st.lists(
            st.tuples(st.integers(0, len(mentees) - 1), st.integers(0, len(mentors) - 1)),
            max_size=3,
        )
    )
    check_against_reference(mentees, mentors, config, weights, pairs)


@pytest.mark.parametrize(("fold_max", "dense_max"), [(0, 0), (1, 2)])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_unfolded_paths_equal_reference(fold_max: int, dense_max: int, data: st.DataObject) -> None:
    # Large cardinalities/vocabularies take the per-block path instead of the
    # folded matrix product; force it on small inputs.
    with (
        mock.patch.object(criteria_base, "FOLD_MAX", fold_max),
        mock.patch.object(criteria_base, "DENSE_VOCAB_MAX", dense_max),
    ):
        mentees, mentors = data.draw(cohorts())
        check_against_reference(mentees, mentors, data.draw(configs()))


def test_all_zero_weights_count_criteria_equally() -> None:
    config = {
        "fields": [{"key": "dept", "type": "category", "values": ["a", "b"]}],
        "criteria": [
            {"name": "d", "kind": "different", "field": "dept", "required": True, "weight": 0},
            {"name": "s", "kind": "skill_overlap", "weight": 0, "required": True},
        ],
    }
    mentees = [{"skills": ["x", "y"], "attributes": {"dept": "a"}}]
    mentors = [{"skills": ["x"], "attributes": {"dept": "b"}}]
    c = scoring.compatibility(mentees, mentors, config)
    np.testing.assert_allclose(c.weights, [0.5, 0.5])
    assert c.scores[0, 0] == pytest.approx(0.75)

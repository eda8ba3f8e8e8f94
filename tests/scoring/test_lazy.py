"""Lazy rows, blocked top-k candidates and recommendations against the dense matrix."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scoring
from scoring.synthetic import generate_cohort


@pytest.fixture(scope="module")
def cohort() -> tuple[list[dict[str, object]], list[dict[str, object]], dict[str, object]]:
    return generate_cohort(120, 90, seed=7)


def test_lazy_rows_equal_dense(cohort) -> None:  # type: ignore[no-untyped-def]
    mentees, mentors, cfg = cohort
    dense = scoring.compatibility(mentees, mentors, cfg, exclude_pairs=[(3, 4)], block_rows=16)
    lazy = scoring.lazy_compatibility(mentees, mentors, cfg, exclude_pairs=[(3, 4)], block_rows=16)
    assert lazy.shape == (120, 90)
    assert lazy.dtype == np.float32
    assert lazy.criteria == dense.criteria
    np.testing.assert_array_equal(lazy.rows(0, 120), dense.scores)
    # Other row blocks may round the matrix product differently (1 ulp).
    np.testing.assert_allclose(lazy.rows(37, 61), dense.scores[37:61], atol=1e-6)
    np.testing.assert_array_equal(lazy.allowed_rows(37, 61), dense.allowed[37:61])
    assert lazy.rows(100, 500).shape == (20, 90)  # stop is clipped like a slice
    assert not lazy.allowed_rows(3, 4)[0, 4]
    with pytest.raises(IndexError):
        lazy.rows(-1, 3)
    with pytest.raises(ValueError, match="block_rows"):
        scoring.lazy_compatibility(mentees, mentors, cfg, block_rows=0)


def test_synthetic_cohort_is_mostly_feasible(cohort) -> None:  # type: ignore[no-untyped-def]
    mentees, mentors, cfg = cohort
    c = scoring.compatibility(mentees, mentors, cfg)
    per_mentee = c.allowed.sum(axis=1)
    assert np.median(per_mentee) > 0.5 * len(mentors)
    assert (per_mentee >= 10).mean() > 0.9
    assert 0.1 < c.scores[c.allowed].mean() < 0.9


def check_top_k(scores: np.ndarray, allowed: np.ndarray, lazy, k: int) -> None:  # type: ignore[no-untyped-def, type-arg]
    row, col, score = lazy.top_k(k)
    assert np.all(allowed[row, col])
    np.testing.assert_array_equal(score, scores[row, col])
    lin = row * scores.shape[1] + col
    assert np.all(np.diff(lin) > 0)  # sorted, unique
    chosen = np.zeros_like(allowed)
    chosen[row, col] = True
    masked = np.where(allowed, scores, -1)
    for axis in (0, 1):
        m = masked if axis == 1 else masked.T
        c = chosen if axis == 1 else chosen.T
        kk = min(k, m.shape[1])
        kth = -np.sort(-m, axis=1)[:, kk - 1 : kk]  # k-th best allowed score (or -1)
        # Everything strictly better than the k-th best is a candidate, and every
        # line has min(k, allowed) candidates among its own top (ties aside).
        assert np.all(c[(m > kth) & (m >= 0)])
        assert np.all(((c & (m >= kth)).sum(axis=1)) >= np.minimum(kk, (m >= 0).sum(axis=1)))


@pytest.mark.parametrize("k", [1, 3, 10, 200])
def test_top_k_contains_true_row_and_column_top_k(cohort, k: int) -> None:  # type: ignore[no-untyped-def]
    mentees, mentors, cfg = cohort
    # Same row blocks: bit-identical scores, so ties are the same ties.
    dense = scoring.compatibility(mentees, mentors, cfg, block_rows=17)
    lazy = scoring.lazy_compatibility(mentees, mentors, cfg, block_rows=17)
    check_top_k(dense.scores, dense.allowed, lazy, k)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 25), m=st.integers(1, 25), k=st.integers(1, 6), br=st.integers(1, 9))
def test_top_k_property(n: int, m: int, k: int, br: int) -> None:
    mentees, mentors, cfg = generate_cohort(n, m, seed=n * 100 + m)
    dense = scoring.compatibility(mentees, mentors, cfg, block_rows=br)
    lazy = scoring.lazy_compatibility(mentees, mentors, cfg, block_rows=br)
    check_top_k(dense.scores, dense.allowed, lazy, k)


def test_top_k_validates_k(cohort) -> None:  # type: ignore[no-untyped-def]
    lazy = scoring.lazy_compatibility(*cohort)
    with pytest.raises(ValueError, match="k: expected an integer >= 1"):
        lazy.top_k(0)


@pytest.mark.parametrize("side", ["mentee", "mentor"])
def test_recommend_equals_dense_ranking(cohort, side: str) -> None:  # type: ignore[no-untyped-def]
    mentees, mentors, cfg = cohort
    dense = scoring.compatibility(mentees, mentors, cfg)
    rng = np.random.default_rng(0)
    for who in (0, 5, 42, 89):
        if side == "mentee":
            line, ok = dense.scores[who], dense.allowed[who].copy()
            mask = rng.random(len(mentors)) < 0.7
            recs = scoring.recommend(
                mentees, mentors, cfg, mentee=who, k=8, candidate_mask=mask, min_score=0.2
            )
            others = [r.mentor for r in recs]
            assert all(r.mentee == who for r in recs)
        else:
            line, ok = dense.scores[:, who], dense.allowed[:, who].copy()
            mask = rng.random(len(mentees)) < 0.7
            recs = scoring.recommend(
                mentees, mentors, cfg, mentor=mentors[who]["external_id"], k=8,
                candidate_mask=mask, min_score=0.2,
            )  # fmt: skip
            others = [r.mentee for r in recs]
        ok &= mask & (line >= 0.2)
        order = np.flatnonzero(ok)[np.lexsort((np.flatnonzero(ok), -line[ok]))][:8]
        np.testing.assert_allclose([r.score for r in recs], line[order], atol=1e-6)
        assert others == order.tolist()
        assert all(r.allowed and r.reasons for r in recs)


def test_recommend_validates_arguments(cohort) -> None:  # type: ignore[no-untyped-def]
    mentees, mentors, cfg = cohort
    with pytest.raises(ValueError, match="exactly one of mentee= or mentor="):
        scoring.recommend(mentees, mentors, cfg)
    with pytest.raises(ValueError, match="no participant with external_id 'zz'"):
        scoring.recommend(mentees, mentors, cfg, mentee="zz")
    with pytest.raises(ValueError, match="index in"):
        scoring.recommend(mentees, mentors, cfg, mentor=90)
    with pytest.raises(ValueError, match="candidate_mask: expected a bool array over the 90"):
        scoring.recommend(mentees, mentors, cfg, mentee=0, candidate_mask=[True])
    with pytest.raises(ValueError, match="k: expected"):
        scoring.recommend(mentees, mentors, cfg, mentee=0, k=0)

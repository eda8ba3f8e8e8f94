"""The sparse solver's shortcuts must never change the optimum.

It first asks SciPy for a matching that covers every mentee (3-4x cheaper, and
cheaper again on square graphs), then gives the "unmatched" option only to the
mentees whose prices show they would rather be left out. These cases force each
branch and compare with the dense solver.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matcher
from matcher._sparse import solve_candidates
from tests.matcher.conftest import LazyArray


def test_a_mentee_better_left_out_is_left_out_on_the_sparse_path() -> None:
    # Covering C forces A from X (1.0) to Z (0.1): leaving C out is worth more.
    s = np.array(
        [
            [1.0, 0.0, 0.1],  # A
            [0.0, 1.0, 0.05],  # B (ties everyone into one component)
            [0.1, 0.0, 0.0],  # C
        ]
    )
    allowed = s > 0
    dense = matcher.assign(s, allowed=allowed, dense_limit=100)
    sparse = matcher.assign(s, allowed=allowed, dense_limit=0)
    assert sparse.method == "sparse"
    assert sparse.optimal
    assert sparse.total == pytest.approx(dense.total) == pytest.approx(2.0)
    assert sparse.unmatched.tolist() == [2]


def test_forced_solve_reports_when_no_matching_covers_everyone() -> None:
    # Two mentees, one mentor: covering both is impossible, so every mentee gets a dummy.
    ei, ej, ew = np.array([0, 1]), np.array([0, 0]), np.array([0.5, 0.7])
    rows, cols, forced = solve_candidates(
        ei, ej, ew, 1, np.array([1]), dummy_rows=np.zeros(2, dtype=bool)
    )
    assert not forced
    assert rows.tolist() == [1]
    assert cols.tolist() == [0]


def test_square_filler_rows_take_the_spare_mentor_slots() -> None:
    # 3 mentees, mentors with capacity 2 each: spare slots are filled by filler rows.
    ei = np.array([0, 0, 1, 2, 2])
    ej = np.array([0, 1, 0, 1, 0])
    ew = np.array([0.9, 0.2, 0.8, 0.6, 0.1])
    rows, cols, forced = solve_candidates(
        ei, ej, ew, 2, np.array([2, 2]), dummy_rows=np.zeros(3, dtype=bool)
    )
    assert forced
    assert dict(zip(rows.tolist(), cols.tolist(), strict=True)) == {0: 0, 1: 0, 2: 1}


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 9),
    m=st.integers(1, 9),
    density=st.floats(0.15, 1.0),
    cap=st.integers(1, 3),
    seed=st.integers(0, 2**31),
)
def test_sparse_equals_dense_on_sparse_masks(
    n: int, m: int, density: float, cap: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    s = np.round(rng.random((n, m)), 2)
    allowed = rng.random((n, m)) < density
    dense = matcher.assign(s, allowed=allowed, capacity=cap, dense_limit=100)
    sparse = matcher.assign(s, allowed=allowed, capacity=cap, dense_limit=0, candidates=1)
    assert sparse.optimal
    assert sparse.total == pytest.approx(dense.total, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 9),
    m=st.integers(1, 6),
    cap=st.integers(1, 2),
    lazy=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_sparse_paths_give_the_dense_reasons_with_pins_and_min_score(
    n: int, m: int, cap: int, lazy: bool, seed: int
) -> None:
    # Pins fill some mentors (capacity 0 left) and min_score cuts pairs: a mentee
    # whose only good mentors are full is "capacity_exhausted" on every path.
    rng = np.random.default_rng(seed)
    s = np.round(rng.random((n, m)), 2).astype(np.float32)
    allowed = rng.random((n, m)) < 0.6
    pin_rows = rng.permutation(n)[: min(n - 1, m * cap) // 2]
    pins = [(int(i), int(rng.integers(m))) for i in pin_rows]
    pins = [(i, j) for i, j in pins if allowed[i, j]]
    load = np.bincount([j for _, j in pins], minlength=m)
    pins = [p for p in pins if load[p[1]] <= cap]
    dense = matcher.assign(
        s, allowed=allowed, capacity=cap, min_score=0.3, pins=pins, dense_limit=100
    )
    source = LazyArray(s, allowed) if lazy else s
    kwargs = {} if lazy else {"allowed": allowed}
    for tolerance in (0.0, 0.01):
        got = matcher.assign(
            source,
            capacity=cap,
            min_score=0.3,
            pins=pins,
            dense_limit=0,
            candidates=1,
            tolerance=tolerance,
            **kwargs,  # type: ignore[arg-type]
        )
        if tolerance == 0:
            assert got.total == pytest.approx(dense.total, abs=1e-5)
        else:
            assert got.total >= (1 - got.gap) * dense.total - 1e-5
        # A reason belongs to the mentee, whichever optimum (ties) was chosen:
        # the same on both paths wherever both leave the mentee out.
        want = dict(zip(dense.unmatched.tolist(), dense.reasons, strict=True))
        have = dict(zip(got.unmatched.tolist(), got.reasons, strict=True))
        for i in want.keys() & have.keys():
            assert have[i] == want[i], (i, have[i], want[i])
        for i, why in want.items():
            if why != "capacity_exhausted":
                assert have.get(i) == why


@pytest.mark.parametrize("tolerance", [0.0, 0.01])
def test_a_mentee_whose_good_mentors_are_pinned_full_is_capacity_exhausted(
    tolerance: float,
) -> None:
    s = np.array([[0.9, 0.1], [0.8, 0.1], [0.2, 0.7]], dtype=np.float32)
    lazy = LazyArray(s)
    got = matcher.assign(lazy, min_score=0.3, pins=[(0, 0)], dense_limit=0, tolerance=tolerance)
    assert got.unmatched.tolist() == [1]
    assert got.reasons == ("capacity_exhausted",)

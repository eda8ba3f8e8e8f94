"""The auction path: eps-optimal on its graph, and a proven gap that holds.

``matcher.assign(..., tolerance=t)`` may stop before the optimum, but the gap
it reports must bound the truth: checked here against the exact solver and
against brute force.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

import matcher
from matcher import _auction
from matcher._auction import auction
from tests.matcher.conftest import LazyArray, all_matchings


def _brute_best(w: NDArray[np.float64], usable: NDArray[np.bool_]) -> float:
    """The optimum over every matching (unit capacities), by enumeration."""
    cap = np.ones(w.shape[1], dtype=np.int64)
    return max(sum(float(w[i, j]) for i, j in pairs) for pairs in all_matchings(usable, cap))


def _graph(
    w: NDArray[np.float64], usable: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """CSR of the usable pairs of a dense matrix, objects sorted within rows."""
    ri, cj = np.nonzero(usable)
    indptr = np.searchsorted(ri, np.arange(w.shape[0] + 1)).astype(np.int64)
    return indptr, cj.astype(np.int64), w[ri, cj].astype(np.float64)


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 5),
    m=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
    density=st.sampled_from([0.3, 0.7, 1.0]),
    quantized=st.booleans(),
)
def test_auction_is_within_eps_per_row_of_the_brute_force_optimum(
    n: int, m: int, seed: int, density: float, quantized: bool
) -> None:
    rng = np.random.default_rng(seed)
    w = rng.random((n, m))
    if quantized:  # ties everywhere: price wars between equal rows
        w = np.round(w * 4) / 4
    usable = (rng.random((n, m)) < density) & (w > 0)
    eps = 1e-3
    indptr, obj, ew = _graph(w, usable)
    state, finished = auction(indptr, obj, ew, m, eps_final=eps)
    assert finished
    rows = np.flatnonzero(state.mate >= 0)
    cols = state.mate[rows]
    assert usable[rows, cols].all()
    assert np.array_equal(state.owner[cols], rows)
    assert np.bincount(cols, minlength=m).max(initial=0) <= 1
    total = float(w[rows, cols].sum())
    best = _brute_best(w, usable)
    assert best - n * eps - 1e-9 <= total <= best + 1e-9
    # The prices are a dual solution: free objects cost nothing, and the bound
    # they give is at least the optimum and within eps per row of the matching.
    assert (state.price[state.owner < 0] == 0).all()
    u = np.maximum(np.where(usable, w - state.price[None, :], -np.inf).max(axis=1), 0.0)
    dual = float(u.sum() + state.price.sum())
    assert best - 1e-9 <= dual <= total + n * eps + 1e-9


def test_free_objects_bid_in_reverse_until_they_cost_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A coarse first phase sells objects that, at the finer eps, their buyers
    # leave: they end free with a price, and reverse bids bring it back to 0.
    calls = []
    real = _auction._reverse

    def counting(*args: Any) -> NDArray[np.int64]:
        calls.append(args[3].size)
        return real(*args)

    monkeypatch.setattr(_auction, "_reverse", counting)
    monkeypatch.setattr(_auction, "START_DIV", 2.0)
    rng = np.random.default_rng(7)
    w = np.round(rng.random((40, 60)) * 20) / 20
    usable = (rng.random((40, 60)) < 0.3) & (w > 0)
    indptr, obj, ew = _graph(w, usable)
    state, finished = auction(indptr, obj, ew, 60, eps_final=1e-4, factor=2.0)
    assert finished
    assert calls, "the case no longer leaves a free object with a price"
    assert (state.price[state.owner < 0] == 0).all()
    rows = np.flatnonzero(state.mate >= 0)
    exact = matcher.assign(w, allowed=usable)
    assert float(w[rows, state.mate[rows]].sum()) >= exact.total - 40 * 1e-4


def _cohort(n: int, m: int, seed: int) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Low-rank scores with ties and a mask: the shape of scoring-engine cohorts."""
    rng = np.random.default_rng(seed)
    a, b = rng.random((n, 4)), rng.random((m, 4))
    s = np.round((a @ b.T) / 4 * 50) / 50
    allowed = rng.random((n, m)) < 0.7
    return s.astype(np.float32), allowed


@pytest.mark.parametrize(("n", "m", "cap"), [(300, 300, 1), (400, 150, 3), (200, 350, 1)])
def test_tolerance_gives_a_gap_that_bounds_the_true_optimum(n: int, m: int, cap: int) -> None:
    s, allowed = _cohort(n, m, seed=n + m)
    exact = matcher.assign(s, allowed=allowed, capacity=cap, min_score=0.2)
    assert exact.optimal
    for tolerance in (0.01, 0.0005):
        got = matcher.assign(
            s,
            allowed=allowed,
            capacity=cap,
            min_score=0.2,
            dense_limit=10,
            candidates=5,
            tolerance=tolerance,
        )
        assert got.method == "auction"
        assert not got.optimal
        assert 0.0 <= got.gap <= tolerance
        # The proven gap holds against the certified optimum.
        assert got.total >= (1 - got.gap) * exact.total - 1e-6
        assert got.total <= exact.total + 1e-6
        assert (got.score >= 0.2).all()
        assert allowed[got.mentee, got.mentor].all()
        assert np.bincount(got.mentor, minlength=m).max() <= cap
        assert got.mentee.size + got.unmatched.size == n


def test_tolerance_on_a_lazy_matrix_reads_rows_without_holding_them() -> None:
    s, allowed = _cohort(500, 500, seed=3)
    lazy = LazyArray(s, allowed)
    exact = matcher.assign(s, allowed=allowed, min_score=0.2)
    got = matcher.assign(lazy, min_score=0.2, dense_limit=10, tolerance=0.001)
    assert got.method == "auction"
    assert got.gap <= 0.001
    assert got.total >= (1 - got.gap) * exact.total - 1e-6
    assert lazy.rows_served >= 2 * 500  # the candidate pass and at least one check


def test_tolerance_zero_keeps_the_certified_path() -> None:
    s, allowed = _cohort(300, 300, seed=1)
    got = matcher.assign(s, allowed=allowed, dense_limit=10, tolerance=0.0)
    assert got.method == "sparse"
    assert got.optimal
    assert got.gap == 0.0


def test_same_input_same_pairs_on_the_auction_path() -> None:
    s, allowed = _cohort(300, 300, seed=5)
    runs = [matcher.assign(s, allowed=allowed, dense_limit=10, tolerance=0.001) for _ in range(2)]
    assert np.array_equal(runs[0].mentee, runs[1].mentee)
    assert np.array_equal(runs[0].mentor, runs[1].mentor)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tolerance": -0.1}, r"tolerance: expected a number in \[0, 0.5\), got -0.1"),
        ({"tolerance": 0.5}, r"got 0.5"),
        ({"tolerance": float("nan")}, r"got nan"),
        ({"tolerance": "0.01"}, r"got str"),
        ({"tolerance": True}, r"got bool"),
        ({"tolerance": 0.01, "objective": "coverage"}, r"only objective 'total'"),
    ],
)
def test_bad_tolerance_is_refused_with_a_clear_error(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(matcher.InvalidToleranceError, match=message):
        matcher.assign(np.ones((2, 2)), **kwargs)  # type: ignore[arg-type]


def test_sample_market_prices_choose_the_candidates_and_the_gap_still_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Large cohorts first match a sample market and price every mentor from it;
    # shrink the thresholds so that a small cohort takes that path too.
    from matcher import _auction_path

    estimates = []
    real = _auction_path._estimate_prices

    def spy(*args: Any) -> Any:
        out = real(*args)
        estimates.append(out)
        return out

    monkeypatch.setattr(_auction_path, "_ESTIMATE_MIN_PAIRS", 0)
    monkeypatch.setattr(_auction_path, "_ESTIMATE_CHUNK", 8)
    monkeypatch.setattr(_auction_path, "_estimate_prices", spy)
    s, allowed = _cohort(400, 400, seed=11)
    exact = matcher.assign(s, allowed=allowed, min_score=0.2)
    got = matcher.assign(s, allowed=allowed, min_score=0.2, dense_limit=10, tolerance=0.001)
    # The sample market (solved first, too small to sample again) and the whole cohort.
    assert len(estimates) == 2
    assert estimates[0] is None
    prices = estimates[1]
    assert prices.shape == (400,)
    assert (prices >= 0).all()
    assert np.isfinite(prices).all()
    assert got.gap <= 0.001
    assert got.total >= (1 - got.gap) * exact.total - 1e-6
    assert got.total <= exact.total + 1e-6


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), ties=st.booleans())
def test_a_single_bidder_takes_the_same_step_on_the_fast_path(seed: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    w = rng.random((6, 5))
    if ties:
        w = np.round(w * 3) / 3
    usable = rng.random((6, 5)) < 0.6
    usable[:, int(rng.integers(5))] = True  # bidders have an edge (as the auction ensures)
    indptr, obj, ew = _graph(w, usable)
    price = np.round(rng.random(5) * 0.5, 1)
    owner = np.array([-1, 3, -1, 4, 5])
    states = []
    for _ in range(2):
        mate = np.full(6, -1, np.int64)
        for j, i in enumerate(owner):
            if i >= 0:
                mate[i] = j
        states.append((_auction.AuctionState(price.copy(), owner.copy(), mate), np.full(6, -1)))
    row = int(rng.integers(0, 3))  # rows 0-2 hold nothing
    slow = _auction._bid(indptr, obj, ew, states[0][0], np.array([row]), 0.01, states[0][1])
    fast = _auction._bid_one(indptr, obj, ew, states[1][0], row, 0.01, states[1][1])
    assert slow.tolist() == fast.tolist()
    a, b = states[0][0], states[1][0]
    assert np.array_equal(a.price, b.price)
    assert np.array_equal(a.owner, b.owner)
    assert np.array_equal(a.mate, b.mate)
    assert np.array_equal(states[0][1], states[1][1])


def _replay_case(index: int) -> tuple[dict[str, Any], NDArray[np.float64], float]:
    """Case ``index`` of a seeded random sweep (sizes, capacities 0-3, pins, ties)."""
    rng = np.random.default_rng(123)
    for _ in range(index + 1):
        n, m = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        s = rng.random((n, m)) * rng.choice([1, 100, 1e-3])
        if rng.random() < 0.4:
            s = np.round(s * 5) / 5
        if rng.random() < 0.2:
            s = s - 0.3
        a = rng.random((n, m)) < rng.choice([0.3, 0.8, 1.0])
        cap = rng.integers(0, 4, m)
        ms = rng.choice([None, 0.2])
        pins: list[tuple[int, int]] = []
        for i in rng.permutation(n)[: n // 4]:
            js = np.flatnonzero(a[i] & (cap > 0))
            if js.size:
                j = int(rng.choice(js))
                if sum(1 for _, jj in pins if jj == j) < cap[j]:
                    pins.append((int(i), j))
        tol = float(rng.choice([0.0005, 0.01, 0.2]))
        lazy = rng.random() < 0.5
        dense_limit, k = int(rng.choice([0, 3])), int(rng.integers(1, 5))
    kwargs = {"capacity": cap, "min_score": ms, "pins": pins}
    scores = s.astype(np.float32)
    run = {"lazy": LazyArray(scores, a) if lazy else None, "allowed": a}
    return {**kwargs, **run, "dense_limit": dense_limit, "candidates": k}, scores, tol


def test_when_the_auction_stalls_over_the_tolerance_the_certified_path_takes_over() -> None:
    # Found by a random sweep: the three places of one mentor trade a mentee back
    # and forth in reverse bids, eps by eps, and the gap stays at 0.13% > 0.05%.
    case, scores, tol = _replay_case(18)
    lazy, allowed = case.pop("lazy"), case.pop("allowed")
    assert lazy is not None
    assert tol == 0.0005
    exact = matcher.assign(scores, allowed=allowed, **case)
    got = matcher.assign(lazy, tolerance=tol, **case)
    assert got.method == "sparse"
    assert got.optimal
    assert got.gap == 0.0
    assert got.total == pytest.approx(exact.total, rel=1e-6)
    # With a time limit the caller gets the auction's own (honest) gap instead.
    timed = matcher.assign(lazy, tolerance=tol, time_limit=60, **case)
    assert timed.method == "auction"
    assert timed.gap > tol
    assert timed.total >= (1 - timed.gap) * exact.total - 1e-3

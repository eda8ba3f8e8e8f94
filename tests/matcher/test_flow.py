"""The min-cost-flow b-matching (matcher._flow) and its prices against brute force."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher._errors import MatcherError
from matcher._flow import Places, solve_flow
from matcher._potentials import residual_potentials

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def graphs(draw):  # type: ignore[no-untyped-def]
    """A tiny graph: up to 4 x 3 nodes, some pairs missing, weights of both signs."""
    n = draw(st.integers(1, 4))
    m = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    mask = rng.random((n, m)) < draw(st.sampled_from([0.6, 1.0]))
    ei, ej = (x.astype(np.int64) for x in np.nonzero(mask))
    levels = draw(st.sampled_from([3, 1000]))
    ew = np.round(rng.random(ei.size) * levels) / levels - draw(st.sampled_from([0.0, 0.3]))
    rcap = rng.integers(0, 4, n).astype(np.int64)
    ccap = rng.integers(0, 4, m).astype(np.int64)
    return ei, ej, ew, rcap, ccap


def _unit_places(cap, gain_of_place):  # type: ignore[no-untyped-def]
    """Unit places of every node, the k-th (from 1) worth gain_of_place(k)."""
    node = np.repeat(np.arange(cap.size), cap).astype(np.int64)
    start = np.repeat(np.cumsum(cap) - cap, cap)
    k = np.arange(node.size) - start + 1
    gain = np.array([gain_of_place(int(x)) for x in k], dtype=np.float64)
    return Places(node, gain, np.ones(node.size, np.int64), k == 1)


def _brute(ei, ej, ew, rcap, ccap, row_gain=None, col_gain=None):  # type: ignore[no-untyped-def]
    """The best value over every subset of edges within both capacities."""
    best = -np.inf
    for mask in itertools.product([False, True], repeat=ei.size):
        x = np.array(mask, dtype=bool)
        r = np.bincount(ei[x], minlength=rcap.size)
        c = np.bincount(ej[x], minlength=ccap.size)
        if (r > rcap).any() or (c > ccap).any():
            continue
        value = float(ew[x].sum())
        for deg, gain in ((r, row_gain), (c, col_gain)):
            if gain is not None:
                value += sum(gain(k) for d in deg for k in range(1, d + 1))
        best = max(best, value)
    return best


def _check_feasible(res, ei, ej, rcap, ccap) -> None:  # type: ignore[no-untyped-def]
    assert (np.bincount(ei[res.chosen], minlength=rcap.size) <= rcap).all()
    assert (np.bincount(ej[res.chosen], minlength=ccap.size) <= ccap).all()


def _bound(res, ei, ej, ew):  # type: ignore[no-untyped-def]
    p = res.prices
    return p.base + float(np.maximum(ew - p.pi[ei] - p.sigma[ej], 0.0).sum())


@SETTINGS
@given(graphs())
def test_plain_flow_matches_brute_force_and_prices_are_a_tight_dual(g) -> None:  # type: ignore[no-untyped-def]
    ei, ej, ew, rcap, ccap = g
    res = solve_flow(ei, ej, ew, rcap, ccap)
    assert res is not None
    _check_feasible(res, ei, ej, rcap, ccap)
    best = _brute(ei, ej, ew, rcap, ccap)
    assert res.value == pytest.approx(best, abs=1e-9)
    assert float(ew[res.chosen].sum()) == pytest.approx(res.value, abs=1e-12)
    # The prices: the Lagrangian bound equals the optimum on the graph.
    assert _bound(res, ei, ej, ew) == pytest.approx(best, abs=1e-9)


@SETTINGS
@given(graphs(), st.sampled_from([0.5, 2.0]))
def test_flow_with_concave_places_matches_brute_force(g, b) -> None:  # type: ignore[no-untyped-def]
    ei, ej, ew, rcap, ccap = g

    def gain(k: int) -> float:
        return b / k

    res = solve_flow(
        ei,
        ej,
        ew,
        rcap,
        ccap,
        row_places=_unit_places(rcap, gain),
        col_places=_unit_places(ccap, gain),
    )
    assert res is not None
    _check_feasible(res, ei, ej, rcap, ccap)
    best = _brute(ei, ej, ew, rcap, ccap, gain, gain)
    assert res.value == pytest.approx(best, abs=1e-9)
    assert _bound(res, ei, ej, ew) == pytest.approx(best, abs=1e-9)


@SETTINGS
@given(graphs(), st.data())
def test_prices_of_a_subgraph_bound_the_whole_graph(g, data) -> None:  # type: ignore[no-untyped-def]
    """Prices from a solve on some of the edges bound the optimum over all of them
    (weak duality), and the bound is tight exactly when no left-out edge has a
    positive reduced score."""
    ei, ej, ew, rcap, ccap = g
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=ei.size, max_size=ei.size)), bool)
    sub = solve_flow(ei[keep], ej[keep], ew[keep], rcap, ccap)
    assert sub is not None
    best = _brute(ei, ej, ew, rcap, ccap)
    bound = _bound(sub, ei, ej, ew)
    assert bound >= best - 1e-9
    assert sub.value <= best + 1e-9
    red = ew - sub.prices.pi[ei] - sub.prices.sigma[ej]
    if not (red[~keep] > 1e-9).any():
        assert sub.value == pytest.approx(best, abs=1e-9)


def test_floors_are_met_or_refused() -> None:
    # Two mentees, one mentor of capacity 1: one mentee at most reaches a first place.
    ei, ej = np.array([0, 1]), np.array([0, 0])
    ew = np.array([0.0, 0.0])
    rcap, ccap = np.array([1, 1]), np.array([1])
    first = Places(np.array([0, 1]), np.zeros(2), np.ones(2, np.int64), np.ones(2, np.bool_))
    met = solve_flow(ei, ej, ew, rcap, ccap, row_places=first, floor_first=1)
    assert met is not None
    assert met.chosen.sum() == 1
    assert met.prices is None
    assert solve_flow(ei, ej, ew, rcap, ccap, row_places=first, floor_first=2) is None
    assert solve_flow(ei, ej, ew, rcap, ccap, floor_pairs=2) is None


def test_floor_on_pairs_takes_a_losing_pair() -> None:
    # Without the floor the negative pair is left out; with it, it must be taken.
    ei, ej, ew = np.array([0]), np.array([0]), np.array([-0.4])
    free = solve_flow(ei, ej, ew, np.array([1]), np.array([1]))
    floored = solve_flow(ei, ej, ew, np.array([1]), np.array([1]), floor_pairs=1)
    assert free is not None
    assert floored is not None
    assert free.chosen.tolist() == [False]
    assert floored.chosen.tolist() == [True]
    assert floored.value == pytest.approx(-0.4)


def test_integer_costs_keep_tiny_score_differences() -> None:
    # The two perfect matchings differ by 1e-12 only; the flow must pick the better.
    eps = 1e-12
    s = np.array([[0.5 + eps, 0.5], [0.5, 0.5]])
    ei, ej = (x.ravel().astype(np.int64) for x in np.indices(s.shape))
    res = solve_flow(ei, ej, s.ravel(), np.ones(2, np.int64), np.ones(2, np.int64))
    assert res is not None
    assert ei[res.chosen].tolist() == [0, 1]
    assert ej[res.chosen].tolist() == [0, 1]


def test_residual_potentials_refuse_a_negative_cycle() -> None:
    # Arcs 0 -> 1 (cost -2, room) and 1 -> 0 (cost 1, room): a cycle of cost -1.
    tail, head = np.array([0, 1]), np.array([1, 0])
    cost, cap, flow = np.array([-2, 1]), np.array([1, 1]), np.array([0, 0])
    with pytest.raises(MatcherError, match="negative cycle"):
        residual_potentials(2, tail, head, cost, cap, flow)


def test_ortools_loads_only_when_a_flow_is_solved() -> None:
    probe = (
        "import sys, numpy as np, matcher, matcher._many, matcher._flow as f\n"
        "print('ortools' in sys.modules)\n"
        "one = np.array([1])\n"
        "f.solve_flow(one - 1, one - 1, np.array([1.0]), one, one)\n"
        "print('ortools' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["False", "True"]

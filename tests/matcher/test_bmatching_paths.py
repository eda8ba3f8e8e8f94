"""The b-matching's candidate-graph path against the LP over all pairs, and its
lazy and full-graph variants against the dense one (mentee capacity above 1)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import matcher
import matcher._bmatch as bmatch
from tests.matcher.bmatch_reference import lp_optimum
from tests.matcher.conftest import LazyArray

MIN_SCORE = 0.3


def _cohort(n: int, m: int, seed: int) -> dict[str, Any]:
    """Low-rank float32 scores (unquantized: integer-cost rounding gets no help),
    an exclusion mask, varied capacities on both sides, and a few pins."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n, 4)), rng.standard_normal((m, 4))
    s = np.clip(0.5 + 0.12 * (a @ b.T), 0.0, 1.0).astype(np.float32)
    allowed = rng.random((n, m)) < 0.85
    rcap = rng.integers(0, 4, n)
    ccap = rng.integers(0, 4, m)
    pins = []
    for i, j in zip(rng.integers(0, n, 12).tolist(), rng.integers(0, m, 12).tolist(), strict=True):
        if allowed[i, j] and (i, j) not in pins:
            used_i = sum(p[0] == i for p in pins)
            used_j = sum(p[1] == j for p in pins)
            if used_i < rcap[i] and used_j < ccap[j]:
                pins.append((i, j))
    return {"s": s, "allowed": allowed, "rcap": rcap, "ccap": ccap, "pins": pins}


def _assign(c: dict[str, Any], scores: Any = None, **kw: Any) -> matcher.Assignment:
    return matcher.assign(
        c["s"] if scores is None else scores,
        capacity=c["ccap"],
        mentee_capacity=c["rcap"],
        allowed=None if scores is not None else c["allowed"],
        min_score=MIN_SCORE,
        pins=c["pins"],
        **kw,
    )


class _Counting:
    """Wraps solve_flow: how many solves, and the largest graph given to one."""

    def __init__(self) -> None:
        self.calls = 0
        self.max_edges = 0
        self._inner = bmatch.solve_flow

    def __call__(self, ei: Any, *args: Any, **kw: Any) -> Any:
        self.calls += 1
        self.max_edges = max(self.max_edges, int(ei.size))
        return self._inner(ei, *args, **kw)


@pytest.mark.parametrize("spread", [0.0, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_candidate_path_reaches_the_lp_optimum_over_all_pairs(
    seed: int, spread: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = _cohort(160, 150, seed)  # 24,000 pairs: above FULL_LIMIT, so candidates first
    s = c["s"].astype(np.float64)
    counting = _Counting()
    monkeypatch.setattr(bmatch, "solve_flow", counting)
    a = _assign(c, spread=spread, candidates=2)
    pins = set(c["pins"])
    free = np.array([(i, j) not in pins for i, j in zip(a.mentee, a.mentor, strict=True)], bool)
    row_pins = np.bincount([i for i, _ in pins], minlength=160)
    col_pins = np.bincount([j for _, j in pins], minlength=150)
    use = c["allowed"] & (s >= MIN_SCORE)
    use[tuple(np.array(c["pins"]).T)] = False
    ref = lp_optimum(
        s,
        use,
        c["rcap"] - row_pins,
        c["ccap"] - col_pins,
        row_pins=row_pins,
        col_pins=col_pins,
        spread=spread,
    )
    value = float(s[a.mentee[free], a.mentor[free]].sum())
    if spread:
        deg = (np.bincount(a.mentee, minlength=160), np.bincount(a.mentor, minlength=150))
        pinned = (row_pins, col_pins)
        value += sum(
            spread / k
            for d, p in zip(deg, pinned, strict=True)
            for x, y in zip(d, p, strict=True)
            for k in range(y + 1, x + 1)
        )
    assert a.optimal
    assert value == pytest.approx(ref, abs=1e-6)
    # The path was exercised: a graph smaller than all usable pairs, grown by checks.
    assert counting.max_edges < int(use.sum())
    assert counting.calls >= 2
    assert (np.bincount(a.mentee, minlength=160) <= c["rcap"]).all()
    assert (np.bincount(a.mentor, minlength=150) <= c["ccap"]).all()
    assert len(set(zip(a.mentee.tolist(), a.mentor.tolist(), strict=True))) == a.mentee.size


@pytest.mark.parametrize("spread", [0.0, 0.5])
def test_candidate_path_equals_the_full_graph(
    spread: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = _cohort(170, 140, 5)
    sparse = _assign(c, spread=spread, candidates=2)
    monkeypatch.setattr(bmatch, "FULL_LIMIT", 10**9)
    full = _assign(c, spread=spread, candidates=2)
    assert sparse.optimal
    assert full.optimal
    assert sparse.total == pytest.approx(full.total, abs=1e-6)
    assert sparse.unmatched.tolist() == full.unmatched.tolist()
    assert sparse.reasons == full.reasons
    assert sparse.filled.tolist() == full.filled.tolist()


@pytest.mark.parametrize(
    ("objective", "spread"),
    [
        ("total", 0.0),
        ("total", 1.0),
        ("coverage", 0.0),
        ("coverage", 1.0),
        ("fair", 0.0),
        ("stable", 0.0),
    ],
)
def test_lazy_equals_dense_for_every_objective(objective: str, spread: float) -> None:
    c = _cohort(150, 140, 9)
    lazy = _assign(c, LazyArray(c["s"], c["allowed"]), objective=objective, spread=spread)
    dense = _assign(c, objective=objective, spread=spread)
    assert lazy.optimal
    assert lazy.total == pytest.approx(dense.total, abs=1e-6)
    assert lazy.unmatched.tolist() == dense.unmatched.tolist()
    assert lazy.reasons == dense.reasons
    assert lazy.filled.tolist() == dense.filled.tolist()
    if objective in ("coverage", "fair"):
        # The levels themselves: as many mentees reached and pairs made.
        assert (lazy.filled > 0).sum() == (dense.filled > 0).sum()
        assert lazy.mentee.size == dense.mentee.size


def test_an_early_stop_reports_a_gap_that_bounds_the_optimum() -> None:
    """Stopped after its first check, the path's gap comes from the flow's prices
    over all pairs: its bound is at least the LP optimum, its total at most."""
    c = _cohort(160, 150, 4)
    c["pins"] = []
    s = c["s"].astype(np.float64)
    a = _assign(c, candidates=8, time_limit=0.0)
    use = c["allowed"] & (s >= MIN_SCORE)
    ref = lp_optimum(s, use, c["rcap"], c["ccap"])
    assert not a.optimal
    assert 0.0 < a.gap < 1.0
    bound = a.total / (1.0 - a.gap)
    assert a.total <= ref + 1e-9
    assert bound >= ref - 1e-6

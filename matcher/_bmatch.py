"""A certified b-matching over all pairs: candidate graph, min-cost flow, price check, grow.

1. The graph: every usable pair when they are few (or the level has floors),
   else each mentee's and each mentor's top-k usable partners
   (:func:`matcher._candidates.find_candidates`).
2. :func:`matcher._flow.solve_flow` gives its exact optimum (a min-cost flow) and prices.
3. One blocked pass over all pairs (:mod:`matcher._bcheck`) computes ``red_ij =
   w_ij - pi_i - sigma_j`` on every usable pair outside the graph: the sum of the
   positive ones plus the graph's own part is an upper bound on the optimum over
   all pairs (a proven gap), and pairs with ``red_ij > tol`` join the graph. No
   such pair: certified optimal.

A usable pair is allowed, scores at least ``lo``, has a mentee and a mentor with
places left, and is not pinned (a pair is used at most once).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher._bcheck import Found, Usable, check_pairs
from matcher._blocks import block_rows, nonzero_2d
from matcher._candidates import EdgeIndex, find_candidates
from matcher._flow import Places, Prices, solve_flow
from matcher._input import Source

__all__ = ["Level", "LevelResult", "solve_level", "usable_pairs"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Up to this many pairs, the flow takes every usable pair at once (no check pass).
FULL_LIMIT = 20_000
_MAX_ROUNDS = 30
MARGIN = 0.05


@dataclass(frozen=True, eq=False)
class Level:
    """One flow: pair weights from a score block, place gains, optional floors."""

    weight: Callable[[NDArray[Any]], FloatArray]
    row_places: Places | None = None
    col_places: Places | None = None
    floor_first: int | None = None
    floor_pairs: int | None = None


@dataclass(frozen=True, eq=False)
class LevelResult:
    """The chosen pairs (sorted by mentee, mentor), the flow's value, and its proof."""

    rows: IntArray
    cols: IntArray
    scores: FloatArray
    value: float
    optimal: bool
    gap: float
    rounds: int
    any_allowed: BoolArray
    any_usable: BoolArray


@dataclass(frozen=True, eq=False)
class Frame:
    """What every level of one problem shares: the usable pairs' definition."""

    source: Source
    lo: float
    rcap: IntArray
    ccap: IntArray
    pin_mentee: IntArray
    pin_mentor: IntArray


def _block_use(frame: Frame, a0: int, b0: int) -> tuple[NDArray[Any], BoolArray, BoolArray]:
    """Scores, allowed mask and usable mask of rows [a0, b0)."""
    s, a = frame.source.block(a0, b0)
    use = a & (s >= frame.lo) if frame.lo > -np.inf else a.copy()
    use &= (frame.rcap[a0:b0] > 0)[:, None]
    use &= (frame.ccap > 0)[None, :]
    at = (frame.pin_mentee >= a0) & (frame.pin_mentee < b0)
    use[frame.pin_mentee[at] - a0, frame.pin_mentor[at]] = False
    return s, a, use


def usable_pairs(frame: Frame) -> tuple[IntArray, IntArray, FloatArray, BoolArray, BoolArray]:
    """Every usable pair (for small or dense problems) and the mentees' reason flags."""
    n = frame.source.n_mentees
    step = block_rows(n, frame.source.n_mentors)
    ei, ej, es = [], [], []
    any_allowed = np.zeros(n, np.bool_)
    any_usable = np.zeros(n, np.bool_)
    for a0 in range(0, n, step):
        b0 = min(n, a0 + step)
        s, a, use = _block_use(frame, a0, b0)
        any_allowed[a0:b0] = a.any(axis=1)
        above = a & (s >= frame.lo) if frame.lo > -np.inf else a
        any_usable[a0:b0] = above.any(axis=1)
        i, j = nonzero_2d(use)
        ei.append(i + a0)
        ej.append(j)
        es.append(s[i, j].astype(np.float64))
    empty = np.zeros(0, np.int64)
    return (
        np.concatenate(ei) if ei else empty,
        np.concatenate(ej) if ej else empty,
        np.concatenate(es) if es else np.zeros(0),
        any_allowed,
        any_usable,
    )


def _initial(
    frame: Frame, k: int, full: bool
) -> tuple[IntArray, IntArray, FloatArray, BoolArray, BoolArray, bool]:
    """The first graph: all usable pairs (``full``, or when they are few) or the top-k."""
    n, m = frame.source.n_mentees, frame.source.n_mentors
    if full or n * m <= FULL_LIMIT:
        return (*usable_pairs(frame), True)
    row_ok = frame.rcap > 0
    cand = find_candidates(frame.source, frame.lo, row_ok, frame.ccap > 0, k, block_rows(n, m))
    ei, ej, es = cand.ei, cand.ej, cand.es
    if frame.pin_mentee.size:
        fresh = EdgeIndex(frame.pin_mentee, frame.pin_mentor, m).fresh(ei, ej)
        ei, ej, es = ei[fresh], ej[fresh], es[fresh]
    return ei, ej, es, cand.any_allowed, cand.any_usable, False


def _outside(
    frame: Frame,
    usable: Usable,
    level: Level,
    graph: tuple[IntArray, IntArray, FloatArray],
    prices: Prices,
    k: int,
) -> tuple[float, float, Found]:
    """The bound over all usable pairs from the graph's prices, the violation
    tolerance, and the pairs outside the graph near violating them."""
    ei, ej, ew = graph
    scale = max(1.0, float(np.abs(ew).max(initial=0.0)))
    tol = 1e-6 * scale
    skip_i = np.concatenate([frame.pin_mentee, ei])
    skip_j = np.concatenate([frame.pin_mentor, ej])
    order = np.argsort(skip_i, kind="stable")
    # Pairs within MARGIN of violating join too: the prices move with the next
    # solve, and they are the likeliest to violate then. 0.05: 2 solves at 500 x 500
    # and 10k x 10k (16 candidates); 0.15 grew the second graph by 35% for no fewer.
    found = check_pairs(
        usable,
        skip_i[order],
        skip_j[order],
        level.weight,
        prices.pi,
        prices.sigma,
        scale=scale,
        near=tol - MARGIN * scale,
        k=k,
    )
    inside = float(np.maximum(ew - prices.pi[ei] - prices.sigma[ej], 0.0).sum())
    return prices.base + inside + found.positive, tol, found


def solve_level(
    frame: Frame, level: Level, *, k: int, full: bool, time_limit: float | None
) -> LevelResult | None:
    """The level's optimum over all usable pairs, certified (or with a proven gap).

    ``full`` puts every usable pair in the flow at once (done with floors, which a
    candidate graph might not meet). None when the floors cannot be met.
    """
    t0 = time.perf_counter()
    floors = level.floor_first is not None or level.floor_pairs is not None
    ei, ej, es, any_allowed, any_usable, full = _initial(frame, k, full or floors)
    usable = Usable(frame.source, frame.lo, frame.rcap > 0, frame.ccap > 0)
    rounds, optimal, gap = 0, False, np.inf
    while True:
        rounds += 1
        ew = np.asarray(level.weight(es), dtype=np.float64)
        res = solve_flow(
            ei,
            ej,
            ew,
            frame.rcap,
            frame.ccap,
            row_places=level.row_places,
            col_places=level.col_places,
            floor_first=level.floor_first,
            floor_pairs=level.floor_pairs,
        )
        if res is None:
            return None
        if full or res.prices is None:
            optimal, gap = True, 0.0
            break
        bound, tol, found = _outside(frame, usable, level, (ei, ej, ew), res.prices, k)
        gap = max(0.0, bound - res.value) / bound if bound > 0 else 0.0
        if not (found.nr > tol).any():
            optimal, gap = True, 0.0
            break
        if rounds >= _MAX_ROUNDS or (
            time_limit is not None and time.perf_counter() - t0 > time_limit
        ):
            break
        ei = np.concatenate([ei, found.ni])
        ej = np.concatenate([ej, found.nj])
        es = np.concatenate([es, found.ns])
    rows, cols, scores = ei[res.chosen], ej[res.chosen], es[res.chosen]
    order = np.lexsort((cols, rows))
    return LevelResult(
        rows[order],
        cols[order],
        scores[order],
        res.value,
        optimal,
        float(gap),
        rounds,
        any_allowed,
        any_usable,
    )

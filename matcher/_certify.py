"""The certification pass, shared by the sparse and auction paths.

:func:`check_prices` computes every pair's reduced cost against the dual prices
of a matching (``s_ij - v_j`` against ``u_i``): the best one of each row makes
the dual bound feasible, hence a proven gap, and the pairs that violate (or
nearly violate) the prices are returned to join the candidate graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher._blocks import nonzero_2d, sub_rows
from matcher._input import Source
from matcher._parallel import parallel_map

__all__ = ["MARGIN", "PriceCheck", "check_prices"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Pairs within this much of violating the prices join the graph with the violating
#: ones: the re-solve moves the prices, and they are the likeliest to violate next.
#: 0.05 (was 0.02): 3 certification rounds instead of 4 at 8k (benchmarks/README.md).
MARGIN = 0.05


def _masked_reduced(
    s: NDArray[Any],
    al: BoolArray,
    lo: float,
    row_ok: BoolArray,
    col_ok: BoolArray,
    v_blk: NDArray[Any],
    wide: bool,
) -> tuple[NDArray[Any], BoolArray, float]:
    """Reduced costs ``s - v`` of a block with unusable pairs pushed below every usable one.

    Returns the reduced costs, the unusable mask and a floor: an entry under the
    floor is unusable. Masked selection (``np.where``, ``copyto(where=...)``) runs
    at ~3 ns a pair on these random masks; subtracting a large enough penalty
    from the unusable pairs is plain arithmetic (~0.2 ns).
    """
    x = s.astype(np.float64) if wide else s
    red = np.subtract(x, v_blk[None, :])
    bad = np.logical_not(al)
    if lo > -np.inf:
        bad |= x < lo
    if not col_ok.all():
        bad |= ~col_ok[None, :]
    if not row_ok.all():
        bad[~row_ok] = True
    if red.size == 0:
        return red, bad, -np.inf
    top, floor = float(red.max()), float(red.min())
    penalty = red.dtype.type((top - floor) + 1.0 + abs(top) * 1e-6)
    if np.isfinite(penalty) and np.isfinite(floor - penalty):
        red -= bad * penalty
    else:  # magnitudes near the float limit: fall back to masked selection
        red = np.where(bad, -np.inf, red)
    return red, bad, floor


def _check_block(
    source: Source,
    lo: float,
    row_ok: BoolArray,
    col_ok: BoolArray,
    v_blk: NDArray[Any],
    wide: bool,
    u_s: FloatArray,
    tol: float,
    near: float,
    k: int,
    a0: int,
    b0: int,
) -> tuple[int, int, FloatArray, bool, IntArray, IntArray, FloatArray]:
    """Reduced costs of rows [a0, b0) against the prices.

    Returns the rows' best reduced cost (``-inf`` for a row without a usable
    pair), whether any pair violates the prices by more than ``tol``, and up to
    ``k`` pairs per row within ``near`` of violating.
    """
    s, al = source.block(a0, b0)
    rmax = np.full(b0 - a0, -np.inf)
    found_i: list[IntArray] = []
    found_j: list[IntArray] = []
    found_r: list[NDArray[Any]] = []
    step = sub_rows(s.shape[1])
    # A few rows at a time: the arithmetic then runs in cache, ~3x faster than
    # streaming whole blocks through memory for every operation.
    for r0 in range(0, b0 - a0, step):
        r1 = min(b0 - a0, r0 + step)
        red, bad, floor = _masked_reduced(
            s[r0:r1], al[r0:r1], lo, row_ok[a0 + r0 : a0 + r1], col_ok, v_blk, wide
        )
        if red.size:
            best = red.max(axis=1).astype(np.float64)
            best[best < floor] = -np.inf
            rmax[r0:r1] = best
        thr = (u_s[a0 + r0 : a0 + r1] + near).astype(red.dtype)
        bi, bj = nonzero_2d(red > thr[:, None])
        keep = ~bad[bi, bj]
        found_i.append(bi[keep] + r0)
        found_j.append(bj[keep])
        found_r.append(red[bi[keep], bj[keep]])
    viol = bool((rmax > u_s[a0:b0] + tol).any())
    bi = np.concatenate(found_i) if found_i else np.zeros(0, np.int64)
    bj = np.concatenate(found_j) if found_j else np.zeros(0, np.int64)
    if bi.size and np.bincount(bi).max() > k:
        # Keep the k most violating pairs of each row: enough to steer the re-solve.
        red_found = np.concatenate(found_r)
        o = np.lexsort((-red_found, bi))
        bi, bj = bi[o], bj[o]
        first = np.searchsorted(bi, bi, side="left")
        keep = np.arange(bi.size) - first < k
        bi, bj = bi[keep], bj[keep]
    found = s[bi, bj].astype(np.float64)
    return a0, b0, rmax, viol, bi + a0, bj, found


@dataclass(frozen=True, eq=False)
class PriceCheck:
    """What a pass over the pairs found against a matching's prices.

    Attributes
    ----------
    u_bound : ndarray of float64, shape (n_mentees,)
        Row duals made feasible on the checked rows, on the weight scale.
    violated : bool
        Whether a checked pair violates the prices by more than the tolerance.
    ni, nj : ndarray of int64
        Pairs within ``near`` of violating (up to k per row), to join the graph.
    ns : ndarray of float64
        Their scores.
    """

    u_bound: FloatArray
    violated: bool
    ni: IntArray
    nj: IntArray
    ns: FloatArray


def check_prices(
    source: Source,
    *,
    lo: float,
    row_ok: BoolArray,
    col_ok: BoolArray,
    u_s: FloatArray,
    v: FloatArray,
    offset: float,
    u_floor: FloatArray,
    tol: float,
    near: float,
    k: int,
    ranges: list[tuple[int, int]],
) -> PriceCheck:
    """Check the rows in ``ranges`` against row duals ``u_s`` (score scale) and prices ``v``.

    A row's dual bound becomes ``max(u_floor_i, max_j (s_ij - v_j) + offset)``
    (rows outside ``ranges`` keep ``u_floor``), which makes the dual feasible:
    ``sum(u_bound) + sum(cap * v)`` bounds the optimum.
    """
    # float32 keeps the pass cheap; prices far from the score scale (coverage's
    # offset) need float64 to stay exact.
    wide = offset != 0.0 or float(np.abs(v).max(initial=0.0)) > 1e3
    v_blk = v if wide else v.astype(np.float32)
    check = partial(_check_block, source, lo, row_ok, col_ok, v_blk, wide, u_s, tol, near, k)
    u_bound = u_floor.copy()
    violated = False
    new_i: list[IntArray] = []
    new_j: list[IntArray] = []
    new_s: list[FloatArray] = []
    for a0, b0, rmax, viol, bi, bj, bs in parallel_map(check, ranges):
        u_bound[a0:b0] = np.maximum(u_bound[a0:b0], rmax + offset)
        violated = violated or viol
        if bi.size:
            new_i.append(bi)
            new_j.append(bj)
            new_s.append(bs)
    if not new_i:
        empty = np.zeros(0, np.int64)
        return PriceCheck(u_bound, violated, empty, empty, np.zeros(0, np.float64))
    return PriceCheck(
        u_bound, violated, np.concatenate(new_i), np.concatenate(new_j), np.concatenate(new_s)
    )

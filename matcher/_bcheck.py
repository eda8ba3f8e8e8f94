"""The b-matching's pass over all pairs outside the graph: their part of the bound,
and the pairs to add.

Against the prices of a solve on a candidate graph (:mod:`matcher._flow`), every
usable pair outside the graph gets its reduced score ``red_ij = w_ij - pi_i -
sigma_j``. The sum of the positive ones is their part of the Lagrangian bound on
the optimum over all pairs; pairs with ``red_ij > near`` (up to k per mentee, most
violating first) are returned to join the graph. The graph's own pairs are
skipped (like the pinned ones), so that a mentee's k slots never go to pairs
already in the graph: the most violating pair outside it is always returned.

Speed, as in :mod:`matcher._certify`: row blocks on every core
(:func:`matcher._parallel.parallel_map`), a few rows at a time inside a block (in
cache), float32 arithmetic when the prices are on the scores' scale (float32 errors
of a few 1e-7 against the certification's tolerance of 1e-6 of the weight scale),
and unusable pairs pushed under 0 and under ``near`` by a penalty (plain
arithmetic) rather than masked selection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher._blocks import block_rows, nonzero_2d, sub_rows
from matcher._input import Source
from matcher._parallel import parallel_map

__all__ = ["Found", "Usable", "check_pairs"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Usable:
    """Which pairs count: allowed, score at least ``lo``, both sides with places
    left (``row_ok``, ``col_ok``)."""

    source: Source
    lo: float
    row_ok: BoolArray
    col_ok: BoolArray


@dataclass(frozen=True, eq=False)
class Found:
    """The pass's result: the positive reduced scores' sum, and the pairs over
    ``near`` (``ni``, ``nj``) with their scores and reduced scores."""

    positive: float
    ni: IntArray
    nj: IntArray
    ns: FloatArray
    nr: FloatArray


def _penalized(w: NDArray[Any], bad: BoolArray, near: float) -> NDArray[Any]:
    """``w`` with the ``bad`` entries moved below both 0 and ``near``."""
    if w.size == 0:
        return w
    top, floor = float(w.max()), float(w.min())
    penalty = max(top, 0.0) - min(floor, 0.0, near) + 1.0 + abs(top) * 1e-6
    if np.isfinite(penalty) and np.isfinite(floor - penalty):
        w -= bad * w.dtype.type(penalty)
        return w
    return np.where(bad, -np.inf, w)


def _block(
    use: Usable,
    skip_i: IntArray,
    skip_j: IntArray,
    weight: Callable[[NDArray[Any]], NDArray[Any]],
    pi: NDArray[Any],
    sigma: NDArray[Any],
    near: float,
    k: int,
    a0: int,
    b0: int,
) -> tuple[float, IntArray, IntArray, FloatArray, FloatArray]:
    s, al = use.source.block(a0, b0)
    dtype = sigma.dtype
    step = sub_rows(s.shape[1])
    positive = 0.0
    fi: list[IntArray] = []
    fj: list[IntArray] = []
    fr: list[NDArray[Any]] = []
    p_lo, p_hi = np.searchsorted(skip_i, [a0, b0])
    for r0 in range(a0, b0, step):
        r1 = min(b0, r0 + step)
        x = s[r0 - a0 : r1 - a0]
        red = np.subtract(weight(x), pi[r0:r1, None], dtype=dtype)
        red -= sigma[None, :]
        bad = np.logical_not(al[r0 - a0 : r1 - a0])
        if use.lo > -np.inf:
            bad |= x < use.lo
        bad |= ~use.col_ok[None, :]
        bad[~use.row_ok[r0:r1]] = True
        q0, q1 = np.searchsorted(skip_i[p_lo:p_hi], [r0, r1]) + p_lo
        bad[skip_i[q0:q1] - r0, skip_j[q0:q1]] = True
        red = _penalized(red, bad, near)
        positive += float(np.maximum(red, 0).sum(dtype=np.float64))
        bi, bj = nonzero_2d(red > near)
        keep = ~bad[bi, bj]
        fi.append(bi[keep] + r0)
        fj.append(bj[keep])
        fr.append(red[bi[keep], bj[keep]])
    bi, bj = np.concatenate(fi), np.concatenate(fj)
    br = np.concatenate(fr).astype(np.float64)
    if bi.size and np.bincount(bi - a0).max() > k:
        # The k most violating pairs of each mentee: enough to steer the next solve.
        o = np.lexsort((-br, bi))
        bi, bj, br = bi[o], bj[o], br[o]
        keep = np.arange(bi.size) - np.searchsorted(bi, bi, side="left") < k
        bi, bj, br = bi[keep], bj[keep], br[keep]
    return positive, bi, bj, s[bi - a0, bj].astype(np.float64), br


def check_pairs(
    use: Usable,
    skip_i: IntArray,
    skip_j: IntArray,
    weight: Callable[[NDArray[Any]], NDArray[Any]],
    pi: FloatArray,
    sigma: FloatArray,
    *,
    scale: float,
    near: float,
    k: int,
) -> Found:
    """Reduced scores of every usable pair but the ``skip`` ones against the prices.

    ``skip_i`` (sorted) and ``skip_j`` are the pairs left out of the pass (the
    pins and the graph); ``scale`` is the weights' magnitude: prices far above it
    need float64.
    """
    n, m = use.source.n_mentees, use.source.n_mentors
    wide = max(float(np.abs(pi).max(initial=0.0)), float(np.abs(sigma).max(initial=0.0)))
    dtype = np.float64 if wide > 2.0 * scale else np.float32
    fn = partial(
        _block, use, skip_i, skip_j, weight, pi.astype(dtype), sigma.astype(dtype), near, k
    )
    step = block_rows(n, m)
    positive = 0.0
    ni: list[IntArray] = []
    nj: list[IntArray] = []
    ns: list[FloatArray] = []
    nr: list[FloatArray] = []
    for part, bi, bj, bs, br in parallel_map(
        fn, [(a, min(n, a + step)) for a in range(0, n, step)]
    ):
        positive += part
        ni.append(bi)
        nj.append(bj)
        ns.append(bs)
        nr.append(br)
    if not ni:
        empty = np.zeros(0, np.int64)
        return Found(positive, empty, empty, np.zeros(0), np.zeros(0))
    return Found(
        positive, np.concatenate(ni), np.concatenate(nj), np.concatenate(ns), np.concatenate(nr)
    )

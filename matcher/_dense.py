"""Exact max-weight b-matching on an in-memory block with SciPy's Hungarian solver."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher._hungarian import linear_sum_assignment

__all__ = ["solve_dense"]

IntArray = NDArray[np.int64]


def solve_dense(
    weights: NDArray[np.floating[Any]],
    usable: NDArray[np.bool_],
    capacity: IntArray,
) -> tuple[IntArray, IntArray]:
    """Max-weight matching of rows to columns with column capacities.

    ``weights`` must be >= 0 where ``usable``. A mentor of capacity c is
    replicated min(c, its usable rows) times, so memory stays
    n_rows x min(sum capacity, n_rows * n_cols). Unusable entries get weight 0,
    the same as leaving the row unmatched, and are dropped afterwards: a
    rectangular assignment then equals a max-weight (not perfect) matching.
    ``linear_sum_assignment`` is deterministic, so equal inputs give equal pairs.

    Returns
    -------
    rows, cols : ndarray of int64
        Matched pairs (indices into ``weights``), sorted by row.
    """
    empty = np.zeros(0, dtype=np.int64)
    rows = np.flatnonzero(usable.any(axis=1))
    if rows.size == 0:
        return empty, empty
    sub_use = usable[rows]
    reps = np.minimum(capacity, sub_use.sum(axis=0))
    if reps.sum() == 0:
        return empty, empty
    col_of_slot = np.repeat(np.arange(capacity.size), reps)
    w = np.where(sub_use, weights[rows] if rows.size < usable.shape[0] else weights, 0.0)
    if col_of_slot.size != capacity.size or (reps != 1).any():
        w = w[:, col_of_slot]
    r, c = linear_sum_assignment(w, maximize=True)
    cols = col_of_slot[c]
    keep = sub_use[r, cols]
    out_r, out_c = rows[r[keep]].astype(np.int64), cols[keep].astype(np.int64)
    order = np.argsort(out_r, kind="stable")
    return out_r[order], out_c[order]

"""Dual potentials of an optimal b-matching on a sparse candidate graph.

For the LP  max sum w_ij x_ij  s.t. each mentee <= 1, mentor j <= c_j,
the dual is  min sum u_i + sum c_j v_j  s.t. u_i + v_j >= w_ij, u, v >= 0.
Given an optimal matching, the least prices ``v`` solving
``v_j = max(0, max_i (w_ij - u_i))`` with ``u_i = w_i,m(i) - v_m(i)`` (0 when
unmatched) satisfy complementary slackness, so the dual value equals the
primal one. They are a longest-path fixed point, found by Jacobi sweeps that
are vectorized over all candidate edges (one sweep per hop of the longest
improving chain).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["mentor_prices"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Sweeps before giving up (one per hop of the longest improving chain).
_MAX_SWEEPS = 100_000


def mentor_prices(
    ei: IntArray,
    ej: IntArray,
    ew: FloatArray,
    n_rows: int,
    n_cols: int,
    mate: IntArray,
    mate_w: FloatArray,
) -> tuple[FloatArray, FloatArray, bool]:
    """Least feasible prices for a matching on the candidate edges.

    Parameters
    ----------
    ei, ej, ew : ndarray, shape (n_edges,)
        Candidate edges (row, column, weight), sorted by column.
    mate : ndarray of int64, shape (n_rows,)
        Column matched to each row, -1 when unmatched.
    mate_w : ndarray of float64, shape (n_rows,)
        Weight of that pair (ignored when unmatched).

    Returns
    -------
    u, v : ndarray of float64
        Row and column potentials.
    converged : bool
        False when the sweep budget ran out (the matching was not optimal or
        chains are too long); ``u, v`` are then not certified feasible.
    """
    v = np.zeros(n_cols, dtype=np.float64)
    matched = mate >= 0
    safe_mate = np.where(matched, mate, 0)
    starts = np.flatnonzero(np.r_[True, ej[1:] != ej[:-1]]) if ej.size else np.zeros(0, np.int64)
    cols_present = ej[starts]
    # Rows whose u changed since the last sweep; only their edges can raise a price.
    active_rows = np.ones(n_rows, dtype=np.bool_)
    converged = False
    u = np.where(matched, mate_w, 0.0)
    for _ in range(_MAX_SWEEPS):
        u = np.where(matched, mate_w - v[safe_mate], 0.0)
        act = active_rows[ei]
        if 5 * int(np.count_nonzero(act)) > act.size:
            vals = ew - u[ei]
            cand = np.full(n_cols, -np.inf)
            if starts.size:
                cand[cols_present] = np.maximum.reduceat(vals, starts)
        else:
            idx = np.flatnonzero(act)
            cand = np.full(n_cols, -np.inf)
            np.maximum.at(cand, ej[idx], ew[idx] - u[ei[idx]])
        new_v = np.maximum(v, cand)
        changed = new_v > v + 1e-12 * (1.0 + np.abs(v))
        if not changed.any():
            converged = True
            break
        v = np.where(changed, new_v, v)
        active_rows = matched & changed[safe_mate]
        if not active_rows.any():
            u = np.where(matched, mate_w - v[safe_mate], 0.0)
            converged = True
            break
    return u, v, converged

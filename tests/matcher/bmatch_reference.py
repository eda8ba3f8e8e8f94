"""A slow, obvious reference for the b-matching on mid-sized inputs: one LP on all pairs.

Brute force stops at a dozen pairs; the candidate-graph path only starts above
:data:`matcher._bmatch.FULL_LIMIT` pairs. In between, the b-matching LP over every
usable pair (SciPy's HiGHS, an independent solver; its constraint matrix is a
network matrix, so its optimum is the integral b-matching optimum) is the oracle.
Spread's bonus is one unit-place variable per place: the k-th place of a node
(pins counted first) is worth ``spread / k``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linprog
from scipy.sparse import coo_array


def _unit_places(left: NDArray[np.int64], pinned: NDArray[np.int64], spread: float):  # type: ignore[no-untyped-def]
    node = np.repeat(np.arange(left.size), left)
    start = np.repeat(np.cumsum(left) - left, left)
    place = pinned[node] + 1 + np.arange(node.size) - start
    return node, spread / place


def lp_optimum(
    w: NDArray[np.float64],
    use: NDArray[np.bool_],
    rcap: NDArray[np.int64],
    ccap: NDArray[np.int64],
    *,
    row_pins: NDArray[np.int64] | None = None,
    col_pins: NDArray[np.int64] | None = None,
    spread: float = 0.0,
) -> float:
    """The best ``sum w x`` (+ spread's place bonus) over b-matchings of the ``use`` pairs.

    ``rcap``/``ccap`` are the places left; ``row_pins``/``col_pins`` the places
    already taken (they only shift spread's bonus).
    """
    n, m = w.shape
    ei, ej = np.nonzero(use)
    e = ei.size
    rows, cols, vals = [ei, n + ej], [np.arange(e)] * 2, [np.ones(e)] * 2
    cost = [-w[ei, ej]]
    b_ub = np.concatenate([rcap, ccap]).astype(np.float64)
    if spread == 0.0:
        a = coo_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))))
        res = linprog(
            np.concatenate(cost), A_ub=a.tocsc(), b_ub=b_ub, bounds=(0, 1), method="highs"
        )
        assert res.status == 0, res.message
        return float(-res.fun)
    # Places: sum_j x_ij - sum_k y_ik = 0 per node, 0 <= y <= 1, y worth spread / k.
    rp = _unit_places(rcap, np.zeros(n, np.int64) if row_pins is None else row_pins, spread)
    cp = _unit_places(ccap, np.zeros(m, np.int64) if col_pins is None else col_pins, spread)
    col = e
    for offset, (node, gain) in ((0, rp), (n, cp)):
        rows.append(offset + node)
        cols.append(col + np.arange(node.size))
        vals.append(-np.ones(node.size))
        cost.append(-gain)
        col += node.size
    a = coo_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n + m, col)
    )
    res = linprog(
        np.concatenate(cost),
        A_eq=a.tocsc(),
        b_eq=np.zeros(n + m),
        bounds=(0, 1),
        method="highs",
    )
    assert res.status == 0, res.message
    return float(-res.fun)

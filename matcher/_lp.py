"""One b-matching LP on a graph of candidate pairs, solved by HiGHS (SciPy's ``linprog``).

Each pair (i, j) is used at most once (``0 <= x_ij <= 1``), mentee i takes at most
``rcap_i`` pairs, mentor j at most ``ccap_j``. The constraint matrix is the
incidence matrix of a bipartite graph (a network matrix), so it is totally
unimodular and the simplex's vertex optimum is integral: the LP optimum *is* the
b-matching optimum. Two forms:

* plain (``max sum w x``, row and column sums bounded): the fast one;
* with places (concave per-place gains and floors), a flow network:
  ``source -> place of mentee i -> i -> j -> place of mentor j -> sink``, each
  place group an arc of capacity ``count`` and gain ``gain``. Gains decreasing
  along a node's places make the LP fill them in order. Optional floors bound the
  flow through the mentees' first places (``F >= floor_first``) and the number of
  pairs (``P >= floor_pairs``) from below: the lexicographic levels of coverage.
  Every column still has one +1 and one -1, so it stays a network matrix.

The duals price every pair, in or out of the graph: ``red_ij = w_ij - pi_i -
sigma_j``. Any prices give the upper bound ``base + sum over all usable pairs of
max(red_ij, 0)`` (Lagrangian weak duality), equal to the LP value on the graph;
a pair outside the graph with ``red_ij > 0`` is the only way to do better.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linprog
from scipy.sparse import csc_array

from matcher._errors import MatcherError

__all__ = ["LpResult", "Places", "solve_lp"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Places:
    """Place groups of one side: ``count`` places of ``node`` worth ``gain`` each.

    A node's groups must cover its capacity; ``first`` marks the groups counted
    by ``floor_first`` (a mentee's first place).
    """

    node: IntArray
    gain: FloatArray
    count: IntArray
    first: BoolArray


@dataclass(frozen=True, eq=False)
class LpResult:
    """The integral optimum on the graph and its prices.

    ``chosen`` marks the used edges; ``pi``/``sigma`` price the mentees and
    mentors; ``base`` is the bound's part that is not a pair; ``value`` the LP
    optimum (weights plus place gains).
    """

    chosen: BoolArray
    pi: FloatArray
    sigma: FloatArray
    base: float
    value: float


def _uniform(cap: IntArray) -> Places:
    nodes = np.flatnonzero(cap > 0).astype(np.int64)
    return Places(nodes, np.zeros(nodes.size), cap[nodes], np.zeros(nodes.size, np.bool_))


def _integral(x: FloatArray) -> BoolArray:
    if x.size and float(np.abs(x - np.rint(x)).max()) > 1e-6:
        # Cannot happen for a vertex of a network LP; refuse rather than round a guess.
        raise MatcherError("the b-matching LP returned a fractional vertex")
    return np.asarray(x > 0.5, dtype=np.bool_)


def _solve_plain(
    ei: IntArray, ej: IntArray, ew: FloatArray, rcap: IntArray, ccap: IntArray
) -> LpResult:
    n, m, e = rcap.size, ccap.size, ei.size
    if e == 0:
        return LpResult(np.zeros(0, np.bool_), np.zeros(n), np.zeros(m), 0.0, 0.0)
    a = csc_array(
        (np.ones(2 * e), (np.concatenate([ei, n + ej]), np.tile(np.arange(e), 2))),
        shape=(n + m, e),
    )
    # Presolve off: 1.7x faster on these graphs (10k x 10k, 120k pairs: 1.2 s vs 2.0 s).
    res = linprog(
        -ew,
        A_ub=a,
        b_ub=np.concatenate([rcap, ccap]).astype(np.float64),
        bounds=(0, 1),
        method="highs-ds",
        options={"presolve": False},
    )
    if res.status != 0:
        raise MatcherError(f"the b-matching LP failed: {res.message}")
    # Prices of <= rows are >= 0; clipping rounding noise keeps the bound valid.
    mu = np.maximum(-np.asarray(res.ineqlin.marginals, dtype=np.float64), 0.0)
    pi, sigma = mu[:n], mu[n:]
    base = float(rcap @ pi + ccap @ sigma)
    return LpResult(_integral(np.asarray(res.x)), pi, sigma, base, float(-res.fun))


def solve_lp(
    ei: IntArray,
    ej: IntArray,
    ew: FloatArray,
    rcap: IntArray,
    ccap: IntArray,
    *,
    row_places: Places | None = None,
    col_places: Places | None = None,
    floor_first: int | None = None,
    floor_pairs: int | None = None,
) -> LpResult | None:
    """Max-weight b-matching of the edges ``(ei, ej, ew)``, each used at most once.

    Returns None when the floors cannot be met on these edges.
    """
    if row_places is None and col_places is None and floor_first is None and floor_pairs is None:
        return _solve_plain(ei, ej, ew, rcap, ccap)
    n, m, e = rcap.size, ccap.size, ei.size
    rp = row_places if row_places is not None else _uniform(rcap)
    cp = col_places if col_places is not None else _uniform(ccap)
    n_rows = n + m + (floor_first is not None) + (floor_pairs is not None)
    f_row, p_row = n + m, n + m + (floor_first is not None)
    r, c, v = [ei, n + ej], [np.arange(e), np.arange(e)], [np.ones(e), -np.ones(e)]
    col = e
    r += [rp.node]
    c += [col + np.arange(rp.node.size)]
    v += [-np.ones(rp.node.size)]
    if floor_first is not None:
        firsts = np.flatnonzero(rp.first)
        r += [np.full(firsts.size, f_row)]
        c += [col + firsts]
        v += [np.ones(firsts.size)]
    col += rp.node.size
    r += [n + cp.node]
    c += [col + np.arange(cp.node.size)]
    v += [np.ones(cp.node.size)]
    if floor_pairs is not None:
        r += [np.full(cp.node.size, p_row)]
        c += [col + np.arange(cp.node.size)]
        v += [-np.ones(cp.node.size)]
    col += cp.node.size
    lo = [np.zeros(col)]
    hi = [np.concatenate([np.ones(e), rp.count, cp.count]).astype(np.float64)]
    cost = [-ew, -rp.gain, -cp.gain]
    for row, floor, sign in ((f_row, floor_first, -1.0), (p_row, floor_pairs, 1.0)):
        if floor is not None:
            r += [np.array([row])]
            c += [np.array([col])]
            v += [np.array([sign])]
            lo += [np.array([float(floor)])]
            hi += [np.array([np.inf])]
            cost += [np.zeros(1)]
            col += 1
    a = csc_array((np.concatenate(v), (np.concatenate(r), np.concatenate(c))), shape=(n_rows, col))
    cvec = np.concatenate(cost)
    if e == 0 and not floor_first and not floor_pairs:
        # Nothing to match; the places alone: each filled only by pairs, so empty.
        return LpResult(np.zeros(0, np.bool_), np.zeros(n), np.zeros(m), 0.0, 0.0)
    bounds = np.column_stack([np.concatenate(lo), np.concatenate(hi)])
    res = linprog(cvec, A_eq=a, b_eq=np.zeros(n_rows), bounds=bounds, method="highs-ds")
    if res.status == 2:
        return None
    if res.status != 0:
        raise MatcherError(f"the b-matching LP failed: {res.message}")
    lam = np.asarray(res.eqlin.marginals, dtype=np.float64)
    red = -cvec + a.T @ lam
    lo_all, hi_all = bounds[:, 0], bounds[:, 1]
    rest = red[e:]
    # The bound's columns other than pairs: max of red * x over each one's interval.
    pos = rest > 1e-9
    with np.errstate(invalid="ignore"):
        part = np.where(
            pos, hi_all[e:] * np.where(pos, rest, 0.0), lo_all[e:] * np.minimum(rest, 0.0)
        )
    return LpResult(
        _integral(np.asarray(res.x)[:e]),
        -lam[:n],
        lam[n : n + m],
        float(part.sum()),
        float(-res.fun),
    )

"""Dispatch a max-weight b-matching to the dense, per-component, sparse or auction path.

The sparse and auction paths and ``scipy.sparse.csgraph`` are imported when a problem
first needs them: a small dense cohort (``mentormatch match`` on 500 x 500) loads
only SciPy's Hungarian solver.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher._dense import solve_dense
from matcher._input import Source, above_mask
from matcher._result import Solved

__all__ = ["DEFAULT_DENSE_LIMIT", "DENSE_LIMIT_REPLICATED", "solve"]

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Blocks with at most ``DEFAULT_DENSE_LIMIT**2`` (mentee, mentor-slot) pairs go to
#: SciPy's dense Hungarian solver; larger ones to the certified sparse path. The
#: crossovers were measured on scoring-engine cohorts (``benchmarks/README.md``):
#: unit capacity, 2k: dense 0.66 s vs sparse 0.64 s, 4k: 3.7 s vs 2.6 s; with
#: capacities 1-3, 4k: 1.4 s vs 2.0 s, 8k: 6.7 s vs 2.8 s.
DEFAULT_DENSE_LIMIT = 2500
#: The same when mentors offer at least 1.25 places per mentee (slack: dense stays fast longer).
DENSE_LIMIT_REPLICATED = 5000
_MAX_COMPONENT_EDGES = 20_000_000


def _components(use: BoolArray) -> list[tuple[IntArray, IntArray]]:
    """Independent (rows, cols) blocks of the usable bipartite graph, largest first."""
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    n, m = use.shape
    if int(np.count_nonzero(use)) > _MAX_COMPONENT_EDGES:
        return []
    has_edge = np.asarray(use.any(axis=1), dtype=np.bool_)
    # A mentor usable by every mentee with any usable pair ties them all together.
    if use[has_edge].all(axis=0).any():
        return []
    i, j = np.nonzero(use)
    graph = coo_array((np.ones(i.size, dtype=np.int8), (i, j + n)), shape=(n + m, n + m))
    n_comp, label = connected_components(graph, directed=False)
    if n_comp <= 1:
        return []
    row_lab, col_lab = label[:n], label[n:]
    has_edge_r = np.asarray(use.any(axis=1), dtype=np.bool_)
    r_order = np.argsort(row_lab, kind="stable")
    c_order = np.argsort(col_lab, kind="stable")
    r_split = np.searchsorted(row_lab[r_order], np.arange(n_comp + 1))
    c_split = np.searchsorted(col_lab[c_order], np.arange(n_comp + 1))
    blocks = []
    for c in range(n_comp):
        rows = r_order[r_split[c] : r_split[c + 1]]
        cols = c_order[c_split[c] : c_split[c + 1]]
        if rows.size and cols.size and has_edge_r[rows].any():
            blocks.append((np.sort(rows).astype(np.int64), np.sort(cols).astype(np.int64)))
    if len(blocks) <= 1:
        return []
    blocks.sort(key=lambda b: -b[0].size * b[1].size)
    return blocks


def _solve_large(
    source: Source,
    *,
    lo: float,
    offset: float,
    row_ok: BoolArray,
    cap: IntArray,
    k: int,
    time_limit: float | None,
    tolerance: float,
) -> Solved:
    """The auction path when a gap is accepted, else (or when it stalls) the certified one."""
    from matcher._auction_path import solve_auction
    from matcher._sparse import solve_sparse

    if tolerance > 0:
        assert offset == 0.0  # only objective "total" accepts a tolerance
        res = solve_auction(
            source, lo=lo, row_ok=row_ok, cap=cap, tolerance=tolerance, k=k, time_limit=time_limit
        )
        if res.gap <= tolerance or time_limit is not None:
            return res
        # The auction stalled over the tolerance (a mentor's identical places can
        # trade a mentee back and forth): certify instead.
    return solve_sparse(
        source, lo=lo, offset=offset, row_ok=row_ok, cap=cap, k=k, time_limit=time_limit
    )


def _block_solve(
    s: NDArray[Any],
    use: BoolArray,
    offset: float,
    cap: IntArray,
    dense_limit: int,
    k: int,
    time_limit: float | None,
    tolerance: float,
) -> tuple[IntArray, IntArray, bool, float, str]:
    n, m = use.shape
    slots = min(int(np.minimum(cap, n).sum()), n * m)
    if n * min(slots, max(n, m)) <= dense_limit * dense_limit:
        r, c = solve_dense(s + offset if offset else s, use, cap)
        return r, c, True, 0.0, "dense"
    res = _solve_large(
        Source(n, m, scores=s, allowed=use),
        lo=-np.inf,
        offset=offset,
        row_ok=np.ones(n, dtype=np.bool_),
        cap=cap,
        k=k,
        time_limit=time_limit,
        tolerance=tolerance,
    )
    return res.rows, res.cols, res.optimal, res.gap, res.method


def solve(
    source: Source,
    *,
    lo: float,
    offset: float,
    row_ok: BoolArray,
    cap: IntArray,
    dense_limit: int,
    k: int,
    time_limit: float | None,
    tolerance: float,
) -> Solved:
    """Max-weight b-matching of weights ``s + offset`` on usable pairs.

    A pair is usable when allowed, ``s >= lo``, its mentee is in ``row_ok``,
    and its mentor has ``cap > 0``. With ``tolerance`` > 0 (and no offset),
    sparse-path problems stop at a proven relative gap of at most it.
    """
    n, m = source.n_mentees, source.n_mentors
    if not source.is_dense and n * m > dense_limit * dense_limit:
        return _solve_large(
            source,
            lo=lo,
            offset=offset,
            row_ok=row_ok,
            cap=cap,
            k=k,
            time_limit=time_limit,
            tolerance=tolerance,
        )
    s, a = source.dense()
    above = above_mask(s, a, lo)
    use = above & row_ok[:, None] & (cap > 0)[None, :]
    blocks = _components(use) if n * m > dense_limit * dense_limit else []
    if blocks:
        parts_r, parts_c = [], []
        optimal, gap = True, 0.0
        for rows, cols in blocks:
            r, c, opt, g, _ = _block_solve(
                s[np.ix_(rows, cols)],
                use[np.ix_(rows, cols)],
                offset,
                cap[cols],
                dense_limit,
                k,
                time_limit,
                tolerance,
            )
            parts_r.append(rows[r])
            parts_c.append(cols[c])
            optimal &= opt
            gap = max(gap, g)
        rr, cc = np.concatenate(parts_r), np.concatenate(parts_c)
        method = "components"
    else:
        rr, cc, optimal, gap, method = _block_solve(
            s, use, offset, cap, dense_limit, k, time_limit, tolerance
        )
    order = np.argsort(rr, kind="stable")
    rr, cc = rr[order], cc[order]
    return Solved(
        rr,
        cc,
        s[rr, cc].astype(np.float64),
        optimal,
        gap,
        method,
        np.asarray(a.any(axis=1), dtype=np.bool_),
        np.asarray(above.any(axis=1), dtype=np.bool_),
    )

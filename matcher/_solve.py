"""Dispatch a max-weight b-matching to the dense, per-component or sparse solver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from matcher._approx import solve_within
from matcher._dense import solve_dense
from matcher._input import Source, above_mask
from matcher._sparse import solve_sparse

__all__ = ["DEFAULT_DENSE_LIMIT", "DENSE_LIMIT_REPLICATED", "Solved", "solve"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
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


@dataclass(frozen=True)
class Solved:
    rows: IntArray
    cols: IntArray
    scores: FloatArray
    optimal: bool
    gap: float
    method: str
    any_allowed: BoolArray
    any_usable: BoolArray


def _components(use: BoolArray) -> list[tuple[IntArray, IntArray]]:
    """Independent (rows, cols) blocks of the usable bipartite graph, largest first."""
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
    src = Source(n, m, scores=s, allowed=use)
    if tolerance > 0:
        within = solve_within(
            src,
            lo=-np.inf,
            row_ok=np.ones(n, dtype=np.bool_),
            cap=cap,
            tolerance=tolerance,
            k=k,
            time_limit=time_limit,
        )
        if within.gap <= tolerance or time_limit is not None:
            return within.rows, within.cols, within.optimal, within.gap, "auction"
        # The auction stalled over the tolerance (see solve_within): certify instead.
    res = solve_sparse(
        src,
        lo=-np.inf,
        offset=offset,
        row_ok=np.ones(n, dtype=np.bool_),
        cap=cap,
        k=k,
        time_limit=time_limit,
    )
    return res.rows, res.cols, res.optimal, res.gap, "sparse"


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
    tolerance: float = 0.0,
) -> Solved:
    """Max-weight b-matching of weights ``s + offset`` on usable pairs.

    A pair is usable when allowed, ``s >= lo``, its mentee is in ``row_ok``,
    and its mentor has ``cap > 0``. With ``tolerance`` > 0 (and no offset),
    sparse-path problems stop at a proven relative gap of at most it.
    """
    n, m = source.n_mentees, source.n_mentors
    if not source.is_dense and n * m > dense_limit * dense_limit:
        if tolerance > 0:
            assert offset == 0.0
            res = solve_within(
                source,
                lo=lo,
                row_ok=row_ok,
                cap=cap,
                tolerance=tolerance,
                k=k,
                time_limit=time_limit,
            )
            method = "auction"
        if tolerance <= 0 or (res.gap > tolerance and time_limit is None):
            # Exact, or the auction stalled over the tolerance (see solve_within).
            res = solve_sparse(
                source, lo=lo, offset=offset, row_ok=row_ok, cap=cap, k=k, time_limit=time_limit
            )
            method = "sparse"
        return Solved(
            res.rows,
            res.cols,
            res.scores,
            res.optimal,
            res.gap,
            method,
            res.any_allowed,
            res.any_usable,
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

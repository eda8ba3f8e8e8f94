"""Exact large assignments: a sparse candidate graph, certified over all pairs.

1. The candidate pass of :mod:`matcher._candidates` keeps every mentee's and
   every mentor's top-k usable partners, and bounds the pairs it left out.
2. SciPy's ``min_weight_full_bipartite_matching`` solves the candidate graph
   (:func:`solve_candidates`), with mentor slots for capacities and one dummy
   "unmatched" column per mentee so a full matching always exists.
3. Dual prices come from the matching (:mod:`matcher._duals`). The bounds of
   step 1 rule most rows out at once; the remaining rows are recomputed and
   checked exactly (``w_ij - v_j <= u_i`` for every usable pair,
   :func:`matcher._certify.check_prices`). Violating pairs join the graph and
   it is solved again, until no pair violates (the result is certified optimal)
   or the budget runs out (the dual bound, made feasible by
   ``u_i = max(u_i, max_j w_ij - v_j)``, gives a proven gap).
"""

from __future__ import annotations

import logging
import time

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_array
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from matcher._blocks import block_rows, row_runs
from matcher._candidates import CandidateGraph, EdgeIndex, find_candidates
from matcher._certify import MARGIN, PriceCheck, check_prices
from matcher._duals import mentor_prices
from matcher._input import Source
from matcher._result import Solved

__all__ = ["solve_candidates", "solve_sparse"]

log = logging.getLogger(__name__)

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Candidate-graph solves before the best matching is returned with its gap.
_MAX_ROUNDS = 50
#: After the first round, candidates with more slack than this under its prices are
#: dropped (unlikely to be in the optimum; every pair is checked again anyway).
_PRUNE = 0.05


def solve_candidates(
    ei: IntArray,
    ej: IntArray,
    ew: FloatArray,
    m: int,
    cap: IntArray,
    *,
    dummy_rows: BoolArray | None,
) -> tuple[IntArray, IntArray, bool]:
    """Max-weight b-matching on the candidate edges (weights > 0).

    Mentees in ``dummy_rows`` (all when None) get an "unmatched" column, so that
    leaving them out is an option. Giving it to every mentee makes the result the
    max-weight b-matching, but costs SciPy about 4x more than the problem in which
    the others must be matched; the caller then checks through the dual prices
    that no such mentee would rather be unmatched. The third value is False when
    no matching covers the mentees without a dummy, and every mentee got one.
    """
    empty = np.zeros(0, dtype=np.int64)
    if ei.size == 0:
        return empty, empty, True
    rows, ri = np.unique(ei, return_inverse=True)
    deg = np.bincount(ej, minlength=m)
    reps = np.minimum(cap, deg)
    keep = reps[ej] > 0
    ri, ej2, ew2 = ri[keep], ej[keep], ew[keep]
    slot0 = np.concatenate([[0], np.cumsum(reps)[:-1]])
    n_slots = int(reps.sum())
    per = reps[ej2]
    src = np.repeat(np.arange(ej2.size), per)
    within = np.arange(src.size) - np.repeat(np.cumsum(per) - per, per)
    slot = slot0[ej2[src]] + within
    nr = rows.size
    c0 = float(ew2.max(initial=0.0)) + 1.0
    mr = mc = None
    forced = dummy_rows is not None and n_slots >= nr
    if forced:
        assert dummy_rows is not None
        d = np.flatnonzero(dummy_rows[rows])
        data = np.concatenate([c0 - ew2[src], np.full(d.size, c0)])
        r_idx = np.concatenate([ri[src], d])
        c_idx = np.concatenate([slot, n_slots + np.arange(d.size)])
        n_cols = n_slots + d.size
        # SciPy's LAPJVsp is about 3x faster on square graphs. When few columns are
        # left over, square the graph with filler rows that may take any column.
        fill = n_cols - nr
        fill = fill if 0 < fill * n_cols <= max(ri.size, 1 << 20) else 0
        if fill:
            r_idx = np.concatenate([r_idx, np.repeat(nr + np.arange(fill), n_cols)])
            c_idx = np.concatenate([c_idx, np.tile(np.arange(n_cols), fill)])
            data = np.concatenate([data, np.full(fill * n_cols, c0)])
        graph = csr_array((data, (r_idx, c_idx)), shape=(nr + fill, n_cols))
        try:
            mr, mc = min_weight_full_bipartite_matching(graph)
        except ValueError:  # no matching covers the others: give everyone a dummy
            forced = False
    if mr is None or mc is None:
        data = np.concatenate([c0 - ew2[src], np.full(nr, c0)])
        r_idx = np.concatenate([ri[src], np.arange(nr)])
        c_idx = np.concatenate([slot, n_slots + np.arange(nr)])
        graph = csr_array((data, (r_idx, c_idx)), shape=(nr, n_slots + nr))
        mr, mc = min_weight_full_bipartite_matching(graph)
    real = (mr < nr) & (mc < n_slots)
    col_of_slot = np.repeat(np.arange(m), reps)
    out_r = rows[mr[real]].astype(np.int64)
    out_c = col_of_slot[mc[real]].astype(np.int64)
    order = np.argsort(out_r, kind="stable")
    return out_r[order], out_c[order], forced


def _prices(
    ei: IntArray,
    ej: IntArray,
    ew: FloatArray,
    n: int,
    m: int,
    rows: IntArray,
    cols: IntArray,
    at: IntArray,
) -> tuple[FloatArray, FloatArray, bool, float]:
    """Dual prices ``u, v`` of the matching ``rows, cols`` (edges ``at`` of the graph),
    whether they converged, and the matching's weight."""
    mate = np.full(n, -1, dtype=np.int64)
    mate[rows] = cols
    mate_w = np.zeros(n)
    mate_w[rows] = ew[at]
    u, v, converged = mentor_prices(ei, ej, ew, n, m, mate, mate_w)
    return u, v, converged, float(mate_w[rows].sum())


def _unmatched_option(
    dummy_rows: BoolArray | None,
    forced: bool,
    converged: bool,
    u: FloatArray,
    rows: IntArray,
    tol: float,
) -> tuple[BoolArray | None, bool]:
    """The mentees that get an "unmatched" column next round, and whether the round
    must be solved again for them.

    None (every mentee) once no matching covers the others. A negative ``u_i``
    breaks the LP's ``u >= 0``: matching mentee i costs more than leaving it out.
    Those mentees get the unmatched option and the graph is solved again (with
    whatever pairs the check adds: one solve for both).
    """
    if not forced:
        return None, False
    if converged and dummy_rows is not None:
        negative = np.zeros(u.size, dtype=np.bool_)
        negative[rows] = u[rows] < -tol
        if negative.any():
            return dummy_rows | negative, True
    return dummy_rows, False


def _suspect_rows(
    cand: CandidateGraph, u_s: FloatArray, v: FloatArray, row_ok: BoolArray, near: float
) -> BoolArray:
    """Rows that might hold a left-out pair within ``near`` of violating the prices.

    Such a pair has ``s_ij - v_j > u_s_i + near`` with ``s_ij < min(t_i, t'_j)``,
    so it needs ``v_j < t_i - u_s_i - near`` and ``t'_j - v_j > u_s_i + near``:
    one sorted pass over the prices answers it for every row.
    """
    m = v.size
    vo = np.argsort(v, kind="stable")
    pref = np.maximum.accumulate((cand.col_bound - v)[vo]) if m else np.zeros(0)
    cnt = np.searchsorted(v[vo], cand.row_bound - u_s - near, side="left")
    suspect = (cnt > 0) & row_ok
    suspect[suspect] = pref[cnt[suspect] - 1] > u_s[suspect] + near
    return suspect


def _check_suspects(
    source: Source,
    cand: CandidateGraph,
    lo: float,
    row_ok: BoolArray,
    col_ok: BoolArray,
    u: FloatArray,
    v: FloatArray,
    converged: bool,
    offset: float,
    tol: float,
    k: int,
) -> tuple[IntArray, PriceCheck]:
    """The rows checked against the prices (all when they did not converge), and the check."""
    # Row dual on the score scale (u - offset), used against raw scores.
    u_s = u - offset
    near = tol - MARGIN
    suspect = _suspect_rows(cand, u_s, v, row_ok, near) if converged else row_ok.copy()
    sus = np.flatnonzero(suspect)
    found = check_prices(
        source,
        lo=lo,
        row_ok=row_ok,
        col_ok=col_ok,
        u_s=u_s,
        v=v,
        offset=offset,
        u_floor=np.maximum(u, 0.0),
        tol=tol,
        near=near,
        k=k,
        ranges=row_runs(sus, block_rows(source.n_mentees, source.n_mentors)),
    )
    return sus, found


def solve_sparse(
    source: Source,
    *,
    lo: float,
    offset: float,
    row_ok: BoolArray,
    cap: IntArray,
    k: int,
    time_limit: float | None,
) -> Solved:
    """Certified max-weight b-matching with weights ``s + offset`` on usable pairs.

    A pair is usable when allowed, ``s >= lo``, its mentee is in ``row_ok``
    and its mentor has capacity. Weights must be >= 0 on usable pairs.
    """
    # One loop of solve, price, check and grow, kept whole (about 90 lines): its four
    # exits (certified, proven bound, rounding noise, time) share the round's state.
    t0 = time.perf_counter()
    n, m = source.n_mentees, source.n_mentors
    col_ok = cap > 0
    block = block_rows(n, m)
    cand = find_candidates(source, lo, row_ok, col_ok, k, block)
    log.debug("candidates: %d edges in %.2f s", cand.ei.size, time.perf_counter() - t0)
    ei, ej, es = cand.ei, cand.ej, cand.es
    tol = 1e-6 * max(1.0, float(np.abs(es).max(initial=0.0)))
    empty = np.zeros(0, np.int64)
    best: tuple[IntArray, IntArray, FloatArray] = (empty, empty, np.zeros(0))
    gap = np.inf
    optimal = False
    rounds = 0
    # Start without "unmatched" columns (much cheaper for SciPy); give one to each
    # mentee whose price shows it would be better off unmatched, and solve again.
    dummy_rows: BoolArray | None = np.zeros(n, dtype=np.bool_)
    while rounds < _MAX_ROUNDS:
        rounds += 1
        order = np.lexsort((ei, ej))
        ei, ej, es = ei[order], ej[order], es[order]
        ew = es + offset
        t_round = time.perf_counter()
        rows, cols, forced = solve_candidates(ei, ej, ew, m, cap, dummy_rows=dummy_rows)
        t_solved = time.perf_counter()
        # The matched pairs' positions among the candidate edges.
        edges = EdgeIndex(ei, ej, m)
        at = edges.find(rows, cols)
        best = (rows, cols, es[at])
        u, v, converged, primal = _prices(ei, ej, ew, n, m, rows, cols, at)
        dummy_rows, resolve = _unmatched_option(dummy_rows, forced, converged, u, rows, tol)
        sus, found = _check_suspects(
            source, cand, lo, row_ok, col_ok, u, v, converged, offset, tol, k
        )
        dual = float(found.u_bound.sum() + (cap * v).sum())
        gap = max(0.0, dual - primal) / max(dual, 1e-300) if dual > 0 else 0.0
        log.debug(
            "round %d: %d edges, solve %.2f s; %d rows checked in %.2f s, %d pairs found, "
            "violated=%s, primal %.6f, gap %.3g",
            rounds,
            ei.size,
            t_solved - t_round,
            sus.size,
            time.perf_counter() - t_solved,
            found.ni.size,
            found.violated,
            primal,
            gap,
        )
        if converged and not found.violated and not resolve:
            optimal = True
            gap = 0.0
            break
        if not found.violated and not resolve:
            # Prices did not converge yet nothing violates: the bound stands as proven.
            break
        if found.ni.size:
            fresh = edges.fresh(found.ni, found.nj)
            if not fresh.any() and not resolve:
                # Only rounding noise on pairs already in the graph, where the prices hold.
                optimal, gap = converged, 0.0 if converged else gap
                break
            if rounds == 1 and converged:
                # Candidates far from tight under the first prices are unlikely to be
                # in the optimum: drop them to make the re-solves cheaper. Safe: every
                # pair, dropped or not, is checked again against the final prices.
                keep = u[ei] + v[ej] - ew <= _PRUNE
                keep[at] = True  # the current matching stays feasible
                ei, ej, es = ei[keep], ej[keep], es[keep]
            ei = np.concatenate([ei, found.ni[fresh]])
            ej = np.concatenate([ej, found.nj[fresh]])
            es = np.concatenate([es, found.ns[fresh]])
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            break
    return Solved(*best, optimal, float(gap), "sparse", cand.any_allowed, cand.any_usable, rounds)

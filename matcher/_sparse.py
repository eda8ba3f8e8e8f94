"""Exact large assignments: a sparse candidate graph, certified over all pairs.

1. One blocked pass over the mentee rows keeps, for each mentee and each
   mentor, roughly its top-k usable partners (thresholds from a sample), and
   records for each row/column the threshold under which everything left out
   lies: a left-out pair has ``s_ij < min(t_i, t'_j)``.
2. SciPy's ``min_weight_full_bipartite_matching`` solves the candidate graph,
   with mentor slots for capacities and one dummy "unmatched" column per
   mentee so a full matching always exists.
3. Dual prices come from the matching (:mod:`matcher._duals`). The bounds of
   step 1 rule most rows out at once; the remaining rows are recomputed and
   checked exactly (``w_ij - v_j <= u_i`` for every usable pair). Violating
   pairs join the graph and it is solved again, until no pair violates (the
   result is certified optimal) or the budget runs out (the dual bound, made
   feasible by ``u_i = max(u_i, max_j w_ij - v_j)``, gives a proven gap).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_array
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from matcher._duals import mentor_prices
from matcher._input import Source
from matcher._parallel import parallel_map

__all__ = ["SparseResult", "solve_sparse"]

log = logging.getLogger(__name__)

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_BLOCK_ELEMS = 1 << 24
_SUB_ELEMS = 1 << 18
_SAMPLE = 1024
#: Mentor columns per chunk of the column-threshold pass (a cache-sized transpose).
_COL_CHUNK = 64


@dataclass(frozen=True)
class SparseResult:
    rows: IntArray
    cols: IntArray
    scores: FloatArray
    optimal: bool
    gap: float
    any_allowed: BoolArray
    any_usable: BoolArray
    rounds: int
    n_edges: int


def _usable(
    s: NDArray[Any], a: BoolArray, lo: float, row_ok: BoolArray, col_ok: BoolArray | None
) -> BoolArray:
    """Allowed, ``s >= lo``, row and column ok (``col_ok=None``: every column)."""
    use = a & (s >= lo) if lo > -np.inf else a.copy()
    if col_ok is not None:
        use &= col_ok[None, :]
    if not row_ok.all():
        use &= row_ok[:, None]
    return use


def _kth_largest(x: NDArray[Any], r: int, axis: int) -> NDArray[np.float64]:
    """The r-th largest value along ``axis`` (``-inf`` where fewer than r are finite)."""
    size = x.shape[axis]
    if r > size:
        shape = list(x.shape)
        del shape[axis]
        return np.full(shape, -np.inf)
    part = np.partition(x, size - r, axis=axis)
    return np.asarray(np.take(part, size - r, axis=axis), dtype=np.float64)


def _column_kth(
    parts: list[NDArray[Any]], r: int, a: int, b: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The r-th largest value of columns ``a..b-1`` over the row sample ``parts``,
    and how many sampled values reach it.

    The chunk is transposed into a small contiguous array first: partitioning
    contiguous rows is ~3x faster than down columns, and transposing a few
    columns at a time stays in cache (a whole-matrix transpose costs more than
    the partition itself).
    """
    x = np.ascontiguousarray(np.concatenate([p[:, a:b] for p in parts], axis=0).T)
    kth = _kth_largest(x, r, axis=1)
    hits = np.count_nonzero(x >= kth.astype(x.dtype)[:, None], axis=1)
    kth[kth <= np.finfo(x.dtype).min] = -np.inf  # only unusable pairs there
    return kth, hits


def _hits(mask: BoolArray) -> tuple[IntArray, IntArray]:
    """``np.nonzero`` of a sparse 2-D mask, ~3x faster (flat indices, then divmod)."""
    flat = np.flatnonzero(mask)
    i, j = np.divmod(flat, max(mask.shape[1], 1))
    return i.astype(np.int64), j.astype(np.int64)


def _sub_rows(n_cols: int) -> int:
    """Rows per sub-block of about 256K pairs (1 MB of float32: in cache)."""
    return max(1, _SUB_ELEMS // max(n_cols, 1))


def _runs(rows: IntArray, max_len: int) -> list[tuple[int, int]]:
    """Cover sorted row indices with contiguous [start, stop) runs of bounded length."""
    out: list[tuple[int, int]] = []
    if rows.size == 0:
        return out
    start = prev = int(rows[0])
    for r in rows[1:].tolist():
        if r - prev > 64 or r + 1 - start > max_len:
            out.append((start, prev + 1))
            start = r
        prev = r
    out.append((start, prev + 1))
    return out


class _Candidates:
    """Pass 1: candidate edges plus the row/column bounds on everything left out."""

    @staticmethod
    def _sample_values(
        source: Source, lo: float, row_ok: BoolArray, col_ok: BoolArray | None, a0: int, b0: int
    ) -> NDArray[Any]:
        """Scores of rows [a0, b0) with unusable pairs at the lowest float.

        Arithmetic (``s * use + lowest * ~use``) a few rows at a time instead of
        ``np.where``, which costs ~3 ns a pair on random masks.
        """
        s, al = source.block(a0, b0)
        out = np.empty_like(s)
        lowest = np.finfo(s.dtype).min
        step = _sub_rows(s.shape[1])
        for r0 in range(0, b0 - a0, step):
            r1 = min(b0 - a0, r0 + step)
            use = _usable(s[r0:r1], al[r0:r1], lo, row_ok[a0 + r0 : a0 + r1], col_ok)
            np.multiply(s[r0:r1], use, out=out[r0:r1])
            out[r0:r1] += ~use * lowest
        return out

    def __init__(
        self,
        source: Source,
        lo: float,
        row_ok: BoolArray,
        col_ok: BoolArray,
        k: int,
        block: int,
        prices: FloatArray | None = None,
    ) -> None:
        """``prices``: estimated mentor prices; each mentee then keeps its best
        partners by ``s - price`` (the pairs an optimum is made of) instead of
        by score. Mentors keep theirs by score either way."""
        n, m = source.n_mentees, source.n_mentors
        t0 = time.perf_counter()
        rng = np.random.default_rng(0)
        # Column thresholds from a row sample (a few evenly spread contiguous chunks).
        if n <= 4 * _SAMPLE:
            sample = [(0, n)]
            q = n
        else:
            n_chunks, size = 8, _SAMPLE // 2
            starts = np.linspace(0, n - size, n_chunks).astype(np.int64)
            sample = [(int(a), int(a) + size) for a in starts]
            q = n_chunks * size
        pieces = [(c0, min(b0, c0 + block)) for a0, b0 in sample for c0 in range(a0, b0, block)]
        cols = None if col_ok.all() else col_ok
        parts = list(parallel_map(partial(self._sample_values, source, lo, row_ok, cols), pieces))
        r_col = max(1, int(np.ceil(k * q / max(n, 1))))
        col_stats = partial(_column_kth, parts, r_col)
        ranges = [(a, min(m, a + _COL_CHUNK)) for a in range(0, m, _COL_CHUNK)]
        kth_hits = list(parallel_map(col_stats, ranges))
        dtype = parts[0].dtype if parts else np.dtype(np.float64)
        del parts
        self.col_bound = np.concatenate([kth for kth, _ in kth_hits]) if m else np.zeros(0)
        hits = np.concatenate([h for _, h in kth_hits]) if m else np.zeros(0, np.int64)
        # Ties at a column's threshold can flood it: take only strictly better pairs there.
        col_flood = hits * (n / q) > 3 * k
        # In the blocks' own dtype: comparing float32 blocks to float64 costs 3x.
        col_b = self.col_bound.astype(dtype)
        col_t = np.where(col_flood, np.nextafter(col_b, np.inf), col_b)
        if m <= 2 * _SAMPLE:
            self.sample_cols = None
            self.r_row = k
            self.row_scale = 1.0
        else:
            self.sample_cols = np.sort(rng.choice(m, size=_SAMPLE, replace=False))
            self.r_row = max(1, int(np.ceil(k * _SAMPLE / m)))
            self.row_scale = m / _SAMPLE
        self.row_bound = np.full(n, -np.inf)
        self.any_allowed = np.zeros(n, dtype=np.bool_)
        self.any_usable = np.zeros(n, dtype=np.bool_)
        ei: list[IntArray] = []
        ej: list[IntArray] = []
        es: list[FloatArray] = []

        sub_rows = _sub_rows(m)
        cols = None if col_ok.all() else col_ok
        samp_cols = None
        if cols is not None and self.sample_cols is not None:
            samp_cols = cols[self.sample_cols]
        elif cols is not None:
            samp_cols = cols

        row_prices = None if prices is None else prices.astype(dtype)
        samp_prices = row_prices
        if row_prices is not None and self.sample_cols is not None:
            samp_prices = row_prices[self.sample_cols]

        def row_thresholds(
            s: NDArray[Any], al: BoolArray, ok: BoolArray
        ) -> tuple[FloatArray, NDArray[Any]]:
            """Each row's bound (its r-th best sampled partner) and the pick threshold."""
            if self.sample_cols is not None:
                s, al = s[:, self.sample_cols], al[:, self.sample_cols]
            usable = _usable(s, al, lo, ok, samp_cols)
            if samp_prices is not None:
                s = s - samp_prices[None, :]
            sel = np.where(usable, s, -np.inf)
            rb = _kth_largest(sel, self.r_row, axis=1)
            # Compare in the block's own dtype so that "left out" means s < bound exactly.
            # Ties at the threshold can flood a row; take only strictly better pairs
            # there (left-out pairs stay <= the bound, which is all the check needs).
            flood = (sel >= rb[:, None]).sum(axis=1) * self.row_scale > 3 * k
            rb_t = np.where(flood, np.nextafter(rb.astype(s.dtype), np.inf), rb).astype(s.dtype)
            return rb, rb_t

        def scan(
            a0: int, b0: int
        ) -> tuple[int, int, BoolArray, BoolArray, FloatArray, IntArray, IntArray, FloatArray]:
            s, al = source.block(a0, b0)
            any_allowed = np.asarray(al.any(axis=1), dtype=np.bool_)
            any_usable = np.zeros(b0 - a0, dtype=np.bool_)
            rb, rb_t = row_thresholds(s, al, row_ok[a0:b0])
            bi: list[IntArray] = []
            bj: list[IntArray] = []
            # A few rows at a time, so that the comparisons run in cache.
            for r0 in range(0, b0 - a0, sub_rows):
                r1 = min(b0 - a0, r0 + sub_rows)
                x = s[r0:r1]
                # "Usable" for the unmatched reasons: allowed and over min_score,
                # whatever the capacities and pins.
                use = al[r0:r1] & (x >= lo) if lo > -np.inf else al[r0:r1].copy()
                any_usable[r0:r1] = use.any(axis=1)
                if cols is not None:
                    use &= cols[None, :]
                if not row_ok[a0 + r0 : a0 + r1].all():
                    use &= row_ok[a0 + r0 : a0 + r1, None]
                if row_prices is None:
                    pick = x >= rb_t[r0:r1, None]
                else:
                    pick = (x - row_prices[None, :]) >= rb_t[r0:r1, None]
                pick |= x >= col_t[None, :]
                pick &= use
                i, j = _hits(pick)
                bi.append(i + r0)
                bj.append(j)
            i = np.concatenate(bi) if bi else np.zeros(0, np.int64)
            j = np.concatenate(bj) if bj else np.zeros(0, np.int64)
            return a0, b0, any_allowed, any_usable, rb, i + a0, j, s[i, j].astype(np.float64)

        log.debug("column thresholds from %d sampled rows in %.2f s", q, time.perf_counter() - t0)
        ranges = [(a0, min(n, a0 + block)) for a0 in range(0, n, block)]
        for a0, b0, any_allowed, any_usable, rb, bi, bj, bs in parallel_map(scan, ranges):
            self.any_allowed[a0:b0] = any_allowed
            self.any_usable[a0:b0] = any_usable
            self.row_bound[a0:b0] = rb
            ei.append(bi)
            ej.append(bj)
            es.append(bs)
        self.ei = np.concatenate(ei) if ei else np.zeros(0, np.int64)
        self.ej = np.concatenate(ej) if ej else np.zeros(0, np.int64)
        self.es = np.concatenate(es) if es else np.zeros(0, np.float64)


def _solve_candidates(
    ei: IntArray,
    ej: IntArray,
    ew: FloatArray,
    n: int,
    m: int,
    cap: IntArray,
    *,
    dummy_rows: BoolArray | None = None,
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
    step = _sub_rows(s.shape[1])
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
        bi, bj = _hits(red > thr[:, None])
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


def solve_sparse(
    source: Source,
    *,
    lo: float,
    offset: float,
    row_ok: BoolArray,
    cap: IntArray,
    k: int = 20,
    time_limit: float | None = None,
    max_rounds: int = 50,
    margin: float = 0.05,
    prune: float | None = 0.05,
) -> SparseResult:
    """Certified max-weight b-matching with weights ``s + offset`` on usable pairs.

    A pair is usable when allowed, ``s >= lo``, its mentee is in ``row_ok``
    and its mentor has capacity. Weights must be >= 0 on usable pairs.
    """
    t0 = time.perf_counter()
    n, m = source.n_mentees, source.n_mentors
    col_ok = cap > 0
    block = max(1, min(n, _BLOCK_ELEMS // max(m, 1)))
    cand = _Candidates(source, lo, row_ok, col_ok, k, block)
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
    while rounds < max_rounds:
        rounds += 1
        order = np.lexsort((ei, ej))
        ei, ej, es = ei[order], ej[order], es[order]
        ew = es + offset
        t_round = time.perf_counter()
        rows, cols, forced = _solve_candidates(ei, ej, ew, n, m, cap, dummy_rows=dummy_rows)
        t_solved = time.perf_counter()
        mate = np.full(n, -1, dtype=np.int64)
        mate[rows] = cols
        mate_w = np.zeros(n)
        # Weights of the matched pairs, looked up among the candidate edges.
        code = ei * m + ej
        by_code = np.argsort(code, kind="stable")
        at = by_code[np.searchsorted(code, rows * m + cols, sorter=by_code)]
        mate_w[rows] = ew[at]
        best = (rows, cols, es[at])
        primal = float(mate_w[rows].sum())
        u, v, converged = mentor_prices(ei, ej, ew, n, m, mate, mate_w)
        resolve = False
        if not forced:
            dummy_rows = None
        elif converged and dummy_rows is not None:
            # A negative u_i breaks the LP's u >= 0: matching mentee i costs more than
            # leaving it out. Give those mentees the unmatched option and solve again
            # (with whatever pairs the check below adds: one solve for both).
            negative = np.zeros(n, dtype=np.bool_)
            negative[rows] = u[rows] < -tol
            if negative.any():
                dummy_rows |= negative
                resolve = True
        # Row dual on the score scale (u - offset), used against raw scores.
        u_s = u - offset
        # Which rows might hold a left-out pair with s_ij - v_j > u_s_i?  Such a pair
        # needs v_j < t_i - u_s_i and t'_j - v_j > u_s_i (s_ij < min(t_i, t'_j)).
        vo = np.argsort(v, kind="stable")
        pref = np.maximum.accumulate((cand.col_bound - v)[vo]) if m else np.zeros(0)
        # Pairs within ``near`` of violating join the graph with the violating ones:
        # the re-solve moves the prices, and they are the likeliest to violate next.
        near = tol - margin
        cnt = np.searchsorted(v[vo], cand.row_bound - u_s - near, side="left")
        suspect = (cnt > 0) & row_ok
        suspect[suspect] = pref[cnt[suspect] - 1] > u_s[suspect] + near
        if not converged:
            suspect = row_ok.copy()
        u_bound = np.maximum(u, 0.0)
        new_i: list[IntArray] = []
        new_j: list[IntArray] = []
        new_s: list[FloatArray] = []
        violated = False
        sus = np.flatnonzero(suspect)
        # float32 keeps the pass cheap; prices far from the score scale (coverage's
        # offset) need float64 to stay exact.
        wide = offset != 0.0 or float(np.abs(v).max(initial=0.0)) > 1e3
        v_blk = v if wide else v.astype(np.float32)

        check = partial(_check_block, source, lo, row_ok, col_ok, v_blk, wide, u_s, tol, near, k)
        for a0, b0, rmax, viol, bi, bj, bs in parallel_map(check, _runs(sus, block)):
            u_bound[a0:b0] = np.maximum(u_bound[a0:b0], rmax + offset)
            violated = violated or viol
            if bi.size:
                new_i.append(bi.astype(np.int64))
                new_j.append(bj)
                new_s.append(bs)
        dual = float(u_bound.sum() + (cap * v).sum())
        gap = max(0.0, dual - primal) / max(dual, 1e-300) if dual > 0 else 0.0
        log.debug(
            "round %d: %d edges, solve %.2f s; %d rows checked in %.2f s, %d pairs found, "
            "violated=%s, primal %.6f, gap %.3g",
            rounds,
            ei.size,
            t_solved - t_round,
            sus.size,
            time.perf_counter() - t_solved,
            sum(x.size for x in new_i),
            violated,
            primal,
            gap,
        )
        if converged and not violated and not resolve:
            optimal = True
            gap = 0.0
            break
        if not violated and not resolve:
            # Prices did not converge yet nothing violates: the bound stands as proven.
            break
        if new_i:
            ni, nj, ns = np.concatenate(new_i), np.concatenate(new_j), np.concatenate(new_s)
            new_code = ni * m + nj
            found = np.searchsorted(code, new_code, sorter=by_code)
            found = np.minimum(found, max(code.size - 1, 0))
            fresh = code[by_code[found]] != new_code if code.size else np.ones(ni.size, np.bool_)
            if not fresh.any() and not resolve:
                # Only rounding noise on pairs already in the graph, where the prices hold.
                optimal, gap = converged, 0.0 if converged else gap
                break
            if rounds == 1 and converged and prune is not None:
                # Candidates far from tight under the first prices are unlikely to be
                # in the optimum: drop them to make the re-solves cheaper. Safe: every
                # pair, dropped or not, is checked again against the final prices.
                slack = u[ei] + v[ej] - ew
                keep = slack <= prune
                keep[at] = True  # the current matching stays feasible
                ei, ej, es = ei[keep], ej[keep], es[keep]
            ei = np.concatenate([ei, ni[fresh]])
            ej = np.concatenate([ej, nj[fresh]])
            es = np.concatenate([es, ns[fresh]])
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            break
    return SparseResult(
        best[0],
        best[1],
        best[2],
        optimal,
        float(gap),
        cand.any_allowed,
        cand.any_usable,
        rounds,
        int(ei.size),
    )

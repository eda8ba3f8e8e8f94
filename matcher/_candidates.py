"""The candidate graph, shared by the sparse and auction paths.

Both large-problem paths (:mod:`matcher._sparse`, certified; :mod:`matcher._auction_path`,
within a tolerance) solve a small graph of likely pairs, then prove with
:func:`matcher._certify.check_prices` how far its matching can be from the optimum.
:func:`find_candidates` makes that graph in one blocked pass over the mentee rows:
each mentee and each mentor keeps roughly its top-k usable partners (thresholds
from a sample), and each row/column records the threshold under which
everything left out lies: a left-out pair has ``s_ij < min(t_i, t'_j)``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher._blocks import nonzero_2d, sub_rows
from matcher._input import Source
from matcher._parallel import parallel_map

__all__ = ["CandidateGraph", "EdgeIndex", "find_candidates"]

log = logging.getLogger(__name__)

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_SAMPLE = 1024
#: Mentor columns per chunk of the column-threshold pass (a cache-sized transpose).
_COL_CHUNK = 64


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


@dataclass(frozen=True, eq=False)
class CandidateGraph:
    """Candidate edges plus the row/column bounds on every pair left out.

    Attributes
    ----------
    ei, ej : ndarray of int64, shape (n_edges,)
        Mentee and mentor of each candidate edge.
    es : ndarray of float64, shape (n_edges,)
        Its score.
    row_bound : ndarray of float64, shape (n_mentees,)
        ``t_i``: every left-out pair of row i scores at most it (by ``s - price``
        when the graph was built with prices).
    col_bound : ndarray of float64, shape (n_mentors,)
        ``t'_j``: every left-out pair of column j scores at most it.
    any_allowed, any_usable : ndarray of bool, shape (n_mentees,)
        Whether each mentee has an allowed pair, and one at or above ``lo``.
    """

    ei: IntArray
    ej: IntArray
    es: FloatArray
    row_bound: FloatArray
    col_bound: FloatArray
    any_allowed: BoolArray
    any_usable: BoolArray


def _masked_scores(
    source: Source, lo: float, row_ok: BoolArray, col_ok: BoolArray | None, a0: int, b0: int
) -> NDArray[Any]:
    """Scores of rows [a0, b0) with unusable pairs at the lowest float.

    Arithmetic (``s * use + lowest * ~use``) a few rows at a time instead of
    ``np.where``, which costs ~3 ns a pair on random masks.
    """
    s, al = source.block(a0, b0)
    out = np.empty_like(s)
    lowest = np.finfo(s.dtype).min
    step = sub_rows(s.shape[1])
    for r0 in range(0, b0 - a0, step):
        r1 = min(b0 - a0, r0 + step)
        use = _usable(s[r0:r1], al[r0:r1], lo, row_ok[a0 + r0 : a0 + r1], col_ok)
        np.multiply(s[r0:r1], use, out=out[r0:r1])
        out[r0:r1] += ~use * lowest
    return out


def _column_thresholds(
    source: Source, lo: float, row_ok: BoolArray, cols: BoolArray | None, k: int, block: int
) -> tuple[FloatArray, NDArray[Any], np.dtype[Any]]:
    """Each column's bound ``t'_j`` from a row sample, the pick threshold (strictly
    above the bound where ties would flood the column) and the blocks' dtype."""
    n, m = source.n_mentees, source.n_mentors
    # A few evenly spread contiguous chunks of rows.
    if n <= 4 * _SAMPLE:
        sample = [(0, n)]
        q = n
    else:
        n_chunks, size = 8, _SAMPLE // 2
        starts = np.linspace(0, n - size, n_chunks).astype(np.int64)
        sample = [(int(a), int(a) + size) for a in starts]
        q = n_chunks * size
    pieces = [(c0, min(b0, c0 + block)) for a0, b0 in sample for c0 in range(a0, b0, block)]
    parts = list(parallel_map(partial(_masked_scores, source, lo, row_ok, cols), pieces))
    r_col = max(1, int(np.ceil(k * q / max(n, 1))))
    col_stats = partial(_column_kth, parts, r_col)
    ranges = [(a, min(m, a + _COL_CHUNK)) for a in range(0, m, _COL_CHUNK)]
    kth_hits = list(parallel_map(col_stats, ranges))
    dtype = parts[0].dtype if parts else np.dtype(np.float64)
    del parts
    col_bound = np.concatenate([kth for kth, _ in kth_hits]) if m else np.zeros(0)
    hits = np.concatenate([h for _, h in kth_hits]) if m else np.zeros(0, np.int64)
    # Ties at a column's threshold can flood it: take only strictly better pairs there.
    col_flood = hits * (n / q) > 3 * k
    # In the blocks' own dtype: comparing float32 blocks to float64 costs 3x.
    col_b = col_bound.astype(dtype)
    col_t = np.where(col_flood, np.nextafter(col_b, np.inf), col_b)
    return col_bound, col_t, dtype


@dataclass(frozen=True, eq=False)
class _RowPicker:
    """How each row chooses its partners: the r-th best of a column sample, by
    ``s`` or by ``s - price``; pairs at or above that threshold are kept."""

    lo: float
    k: int
    sample_cols: IntArray | None  # None: every column is in the sample
    r_row: int
    row_scale: float  # columns per sampled column
    cols: BoolArray | None  # usable columns (None: all)
    samp_cols: BoolArray | None  # the same, on the sample
    row_prices: NDArray[Any] | None  # in the blocks' dtype
    samp_prices: NDArray[Any] | None

    @classmethod
    def build(
        cls,
        lo: float,
        k: int,
        col_ok: BoolArray,
        prices: FloatArray | None,
        dtype: np.dtype[Any],
    ) -> _RowPicker:
        m = col_ok.size
        sample_cols: IntArray | None = None
        r_row, row_scale = k, 1.0
        if m > 2 * _SAMPLE:
            rng = np.random.default_rng(0)
            sample_cols = np.sort(rng.choice(m, size=_SAMPLE, replace=False))
            r_row = max(1, int(np.ceil(k * _SAMPLE / m)))
            row_scale = m / _SAMPLE
        cols = None if col_ok.all() else col_ok
        samp_cols = None
        if cols is not None and sample_cols is not None:
            samp_cols = cols[sample_cols]
        elif cols is not None:
            samp_cols = cols
        row_prices = None if prices is None else prices.astype(dtype)
        samp_prices = row_prices
        if row_prices is not None and sample_cols is not None:
            samp_prices = row_prices[sample_cols]
        return cls(lo, k, sample_cols, r_row, row_scale, cols, samp_cols, row_prices, samp_prices)

    def thresholds(
        self, s: NDArray[Any], al: BoolArray, ok: BoolArray
    ) -> tuple[FloatArray, NDArray[Any]]:
        """Each row's bound (its r-th best sampled partner) and the pick threshold."""
        if self.sample_cols is not None:
            s, al = s[:, self.sample_cols], al[:, self.sample_cols]
        usable = _usable(s, al, self.lo, ok, self.samp_cols)
        if self.samp_prices is not None:
            s = s - self.samp_prices[None, :]
        sel = np.where(usable, s, -np.inf)
        rb = _kth_largest(sel, self.r_row, axis=1)
        # Compare in the block's own dtype so that "left out" means s < bound exactly.
        # Ties at the threshold can flood a row; take only strictly better pairs
        # there (left-out pairs stay <= the bound, which is all the check needs).
        flood = (sel >= rb[:, None]).sum(axis=1) * self.row_scale > 3 * self.k
        rb_t = np.where(flood, np.nextafter(rb.astype(s.dtype), np.inf), rb).astype(s.dtype)
        return rb, rb_t


def _scan(
    source: Source,
    row_ok: BoolArray,
    col_t: NDArray[Any],
    picker: _RowPicker,
    a0: int,
    b0: int,
) -> tuple[int, int, BoolArray, BoolArray, FloatArray, IntArray, IntArray, FloatArray]:
    """Candidate edges of rows [a0, b0): a row's picks and every column's picks."""
    lo, cols, row_prices = picker.lo, picker.cols, picker.row_prices
    s, al = source.block(a0, b0)
    any_allowed = np.asarray(al.any(axis=1), dtype=np.bool_)
    any_usable = np.zeros(b0 - a0, dtype=np.bool_)
    rb, rb_t = picker.thresholds(s, al, row_ok[a0:b0])
    bi: list[IntArray] = []
    bj: list[IntArray] = []
    step = sub_rows(source.n_mentors)
    # A few rows at a time, so that the comparisons run in cache.
    for r0 in range(0, b0 - a0, step):
        r1 = min(b0 - a0, r0 + step)
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
        i, j = nonzero_2d(pick)
        bi.append(i + r0)
        bj.append(j)
    i = np.concatenate(bi) if bi else np.zeros(0, np.int64)
    j = np.concatenate(bj) if bj else np.zeros(0, np.int64)
    return a0, b0, any_allowed, any_usable, rb, i + a0, j, s[i, j].astype(np.float64)


def find_candidates(
    source: Source,
    lo: float,
    row_ok: BoolArray,
    col_ok: BoolArray,
    k: int,
    block: int,
    *,
    prices: FloatArray | None = None,
) -> CandidateGraph:
    """One blocked pass over the mentee rows: candidate edges and the bounds on the rest.

    A pair is usable when allowed, ``s >= lo``, its row is in ``row_ok`` and its
    column in ``col_ok``. ``prices``: estimated mentor prices; each mentee then
    keeps its best partners by ``s - price`` (the pairs an optimum is made of)
    instead of by score. Mentors keep theirs by score either way.
    """
    n = source.n_mentees
    t0 = time.perf_counter()
    cols = None if col_ok.all() else col_ok
    col_bound, col_t, dtype = _column_thresholds(source, lo, row_ok, cols, k, block)
    picker = _RowPicker.build(lo, k, col_ok, prices, dtype)
    log.debug("column thresholds in %.2f s", time.perf_counter() - t0)
    row_bound = np.full(n, -np.inf)
    any_allowed = np.zeros(n, dtype=np.bool_)
    any_usable = np.zeros(n, dtype=np.bool_)
    ei: list[IntArray] = []
    ej: list[IntArray] = []
    es: list[FloatArray] = []
    scan = partial(_scan, source, row_ok, col_t, picker)
    ranges = [(a0, min(n, a0 + block)) for a0 in range(0, n, block)]
    for a0, b0, allowed_b, usable_b, rb, bi, bj, bs in parallel_map(scan, ranges):
        any_allowed[a0:b0] = allowed_b
        any_usable[a0:b0] = usable_b
        row_bound[a0:b0] = rb
        ei.append(bi)
        ej.append(bj)
        es.append(bs)
    return CandidateGraph(
        np.concatenate(ei) if ei else np.zeros(0, np.int64),
        np.concatenate(ej) if ej else np.zeros(0, np.int64),
        np.concatenate(es) if es else np.zeros(0, np.float64),
        row_bound,
        col_bound,
        any_allowed,
        any_usable,
    )


class EdgeIndex:
    """Edges ``(ei, ej)`` of a graph with ``n_mentors`` columns, looked up by pair."""

    def __init__(self, ei: IntArray, ej: IntArray, n_mentors: int) -> None:
        self._m = n_mentors
        self._code = ei * n_mentors + ej
        self._by_code = np.argsort(self._code, kind="stable")

    def find(self, rows: IntArray, cols: IntArray) -> IntArray:
        """Positions of the given pairs, which must all be edges."""
        at = np.searchsorted(self._code, rows * self._m + cols, sorter=self._by_code)
        return self._by_code[at]

    def fresh(self, rows: IntArray, cols: IntArray) -> BoolArray:
        """Which of the given pairs are not edges yet."""
        code, by_code = self._code, self._by_code
        new_code = rows * self._m + cols
        found = np.searchsorted(code, new_code, sorter=by_code)
        found = np.minimum(found, max(code.size - 1, 0))
        return code[by_code[found]] != new_code if code.size else np.ones(rows.size, np.bool_)

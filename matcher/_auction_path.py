"""The auction path: very large assignments within a proven gap (``method="auction"``).

SciPy's sparse solver restarts from nothing on every round and grows
super-linearly (86 s for one solve at 50,000 per side). When the caller accepts
a proven relative gap ``tolerance`` > 0, this path replaces it with the
auction of :mod:`matcher._auction`:

0. on very large cohorts, a sample market (a tenth of each side) is matched
   first, and its mentees' profits price every mentor (:func:`_estimate_prices`);
1. the candidate pass of :mod:`matcher._candidates` (every mentee's top partners,
   by score less those prices, and every mentor's top partners by score);
2. an auction on the candidate graph to within ``eps`` per matched mentee,
   where ``eps`` is a small part of the tolerance;
3. one blocked pass over all pairs (:func:`matcher._certify.check_prices`)
   computes the dual bound of those prices
   (``u_i = max(0, max_j s_ij - v_j)``), hence the proven gap, and collects
   the pairs that violate (or nearly violate) the prices;
4. if the gap is over the tolerance, those pairs join the graph, the auction
   solves it again, and step 3 follows. (Starting the auction from the old
   prices was tried: new pairs then set off long price wars at the final eps,
   slower than a fresh eps-scaled solve.)
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher._auction import AuctionState, auction
from matcher._blocks import block_rows, row_runs
from matcher._candidates import EdgeIndex, find_candidates
from matcher._certify import MARGIN, PriceCheck, check_prices
from matcher._input import Source
from matcher._parallel import parallel_map
from matcher._result import Solved

__all__ = ["solve_auction"]

log = logging.getLogger(__name__)

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Candidate-graph solves before the best matching is returned with its gap.
_MAX_ROUNDS = 20
#: Reverse-bid rounds of the first auction (see :func:`_match`).
_FIRST_REVERSE = 2000
#: Later rounds restart the auction's eps-scaling at this multiple of the final eps.
_RESTART_EPS = 64.0
#: Sample markets (:func:`_estimate_prices`) for cohorts of at least this many pairs,
#: with this fraction of each side, read in chunks of this many mentee rows.
_ESTIMATE_MIN_PAIRS = 400_000_000
_ESTIMATE_FRACTION = 0.1
_ESTIMATE_CHUNK = 256


class _SlotGraph:
    """Candidate edges expanded to mentor slots, in CSR form over mentees.

    Mentor ``j`` has ``min(cap_j, n)`` slots with fixed indices, so prices and
    the matching carry over when edges are added.
    """

    def __init__(self, n: int, cap: IntArray) -> None:
        self.n = n
        self.reps = np.minimum(cap, n).astype(np.int64)
        self.slot0 = np.concatenate([[0], np.cumsum(self.reps)[:-1]]).astype(np.int64)
        self.n_slots = int(self.reps.sum())
        self.col_of_slot = np.repeat(np.arange(cap.size, dtype=np.int64), self.reps)

    def build(
        self, ei: IntArray, ej: IntArray, ew: FloatArray
    ) -> tuple[IntArray, IntArray, FloatArray]:
        per = self.reps[ej]
        src = np.repeat(np.arange(ej.size), per)
        within = np.arange(src.size) - np.repeat(np.cumsum(per) - per, per)
        obj = self.slot0[ej[src]] + within
        row = ei[src]
        order = np.lexsort((obj, row))
        row, obj, w = row[order], obj[order], ew[src][order]
        indptr = np.searchsorted(row, np.arange(self.n + 1)).astype(np.int64)
        return indptr, obj, w

    def mentor_prices(self, state: AuctionState) -> FloatArray:
        """A mentor's price is its cheapest slot's; a free slot costs nothing."""
        price = np.where(state.owner >= 0, state.price, 0.0)
        v = np.full(self.reps.size, 0.0)
        has = self.reps > 0
        v[has] = np.minimum.reduceat(price, self.slot0[has])
        return v


def solve_auction(
    source: Source,
    *,
    lo: float,
    row_ok: BoolArray,
    cap: IntArray,
    tolerance: float,
    k: int,
    time_limit: float | None,
) -> Solved:
    """Max-weight b-matching of the scores on usable pairs, within ``tolerance``.

    A pair is usable when allowed, ``s >= lo``, its mentee is in ``row_ok``
    and its mentor has capacity; scores must be >= 0 on usable pairs. The
    result's ``gap`` is a proven bound on ``(optimum - total) / optimum``.
    """
    return _auction_rounds(
        source, lo=lo, row_ok=row_ok, cap=cap, tolerance=tolerance, k=k, time_limit=time_limit
    )[0]


def _match(
    slots: _SlotGraph,
    ei: IntArray,
    ej: IntArray,
    es: FloatArray,
    state: AuctionState | None,
    eps: float,
) -> AuctionState:
    """The auction on the candidate graph, warm-started from ``state`` after round 1."""
    indptr, obj, w = slots.build(ei, ej, es)
    # The first graph is only a start: its solve is for prices that find better
    # pairs, so its reverse bids (which can run in long chains) stop early.
    new_state, _ = auction(
        indptr,
        obj,
        w,
        slots.n_slots,
        eps_final=eps,
        reverse_rounds=_FIRST_REVERSE if state is None else None,
        # Later rounds start from the last prices (free slots at 0) and a small
        # eps: the graph grew a little, so the prices are nearly right.
        prices=None if state is None else np.where(state.owner >= 0, state.price, 0.0),
        eps_start=None if state is None else _RESTART_EPS * eps,
    )
    return new_state


def _final_eps(ei: IntArray, es: FloatArray, n: int, tolerance: float) -> float:
    """The auction's last eps for a proven gap of ``tolerance`` on this graph.

    eps-complementary slackness loses at most eps per matched mentee; spend a
    sixteenth of the tolerance on it (against a lower estimate of the optimum),
    so that the rest is left for the pairs still missing from the graph: at 100k,
    a quarter needed a third pass over all pairs where a sixteenth did not.
    """
    row_best = np.zeros(n)
    np.maximum.at(row_best, ei, es)
    return max(1e-9, tolerance * float(row_best.sum()) / max(n, 1) / 16.0)


def _check_all(
    source: Source,
    lo: float,
    row_ok: BoolArray,
    col_ok: BoolArray,
    u: FloatArray,
    v: FloatArray,
    tol: float,
    k: int,
    block: int,
) -> PriceCheck:
    """Every row against the auction's prices (its profits ``u`` are on the score scale)."""
    n = source.n_mentees
    # Twice the candidates' k near-violating pairs per row: a pass over all pairs
    # costs far more than a bigger graph for the auction.
    return check_prices(
        source,
        lo=lo,
        row_ok=row_ok,
        col_ok=col_ok,
        u_s=u,
        v=v,
        offset=0.0,
        u_floor=np.zeros(n),
        tol=tol,
        near=tol - MARGIN,
        k=2 * k,
        ranges=row_runs(np.arange(n), block),
    )


def _auction_rounds(
    source: Source,
    *,
    lo: float,
    row_ok: BoolArray,
    cap: IntArray,
    tolerance: float,
    k: int,
    time_limit: float | None,
) -> tuple[Solved, FloatArray]:
    """:func:`solve_auction`, plus the final row profits ``u``."""
    t0 = time.perf_counter()
    n, m = source.n_mentees, source.n_mentors
    col_ok = cap > 0
    block = block_rows(n, m)
    prices = _estimate_prices(source, lo, row_ok, cap, k, tolerance)
    if prices is not None:
        log.debug("prices estimated in %.2f s", time.perf_counter() - t0)
    cand = find_candidates(source, lo, row_ok, col_ok, k, block, prices=prices)
    ei, ej, es = cand.ei, cand.ej, cand.es
    log.debug("candidates: %d edges, %.2f s since the start", ei.size, time.perf_counter() - t0)
    slots = _SlotGraph(n, cap)
    eps = _final_eps(ei, es, n, tolerance)
    tol = 1e-6 * max(1.0, float(np.abs(es).max(initial=0.0)))
    empty = np.zeros(0, np.int64)
    best: tuple[IntArray, IntArray, FloatArray] = (empty, empty, np.zeros(0))
    gap = np.inf
    u = np.zeros(n)
    state: AuctionState | None = None
    rounds = 0
    while rounds < _MAX_ROUNDS:
        rounds += 1
        t_round = time.perf_counter()
        state = _match(slots, ei, ej, es, state, eps)
        t_solved = time.perf_counter()
        rows = np.flatnonzero(state.mate >= 0)
        cols = slots.col_of_slot[state.mate[rows]]
        # Scores of the matched pairs, looked up among the candidate edges.
        edges = EdgeIndex(ei, ej, m)
        at = edges.find(rows, cols)
        best = (rows, cols, es[at])
        primal = float(es[at].sum())
        v = slots.mentor_prices(state)
        u = np.zeros(n)
        u[rows] = es[at] - v[cols]
        found = _check_all(source, lo, row_ok, col_ok, u, v, tol, k, block)
        dual = float(found.u_bound.sum() + (slots.reps * v).sum())
        gap = max(0.0, dual - primal) / dual if dual > 0 else 0.0
        log.debug(
            "round %d: %d edges, auction %.2f s; check %.2f s, %d pairs found, primal %.6f, "
            "dual %.6f, gap %.3g",
            rounds,
            ei.size,
            t_solved - t_round,
            time.perf_counter() - t_solved,
            found.ni.size,
            primal,
            dual,
            gap,
        )
        if gap <= tolerance or not found.ni.size:
            break
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            break
        fresh = edges.fresh(found.ni, found.nj)
        if not fresh.any():
            break
        ei = np.concatenate([ei, found.ni[fresh]])
        ej = np.concatenate([ej, found.nj[fresh]])
        es = np.concatenate([es, found.ns[fresh]])
    order = np.argsort(best[0], kind="stable")
    rows, cols, scores = best[0][order], best[1][order], best[2][order]
    result = Solved(
        rows, cols, scores, False, float(gap), "auction", cand.any_allowed, cand.any_usable, rounds
    )
    return result, u


def _sample_rows(n: int, want: int, size: int) -> list[tuple[int, int]]:
    """About ``want`` mentee rows in contiguous chunks spread evenly over ``n``."""
    size = min(size, n)
    n_chunks = max(1, min(want // size, n // size))
    starts = np.linspace(0, n - size, n_chunks).astype(np.int64)
    return [(int(a), int(a) + size) for a in np.unique(starts)]


def _estimate_prices(
    source: Source, lo: float, row_ok: BoolArray, cap: IntArray, k: int, tolerance: float
) -> FloatArray | None:
    """Mentor prices from a sample market, for choosing the candidate pairs.

    A tenth of the mentees and a tenth of the mentors (the same ratio of places
    to mentees) are matched within the tolerance; their mentees' profits ``u``
    then price every mentor at what it is worth to the sampled mentees beyond
    their match: ``v_j = max(0, max_i s_ij - u_i)``. On large cohorts these
    prices are close to the optimum's, so each mentee's best partners *at these
    prices* hold the optimum's pairs, and one re-check usually proves the gap.
    Returns None for cohorts too small to need it.
    """
    n, m = source.n_mentees, source.n_mentors
    if n * m < _ESTIMATE_MIN_PAIRS or min(n, m) < 20 * _ESTIMATE_CHUNK:
        return None
    rng = np.random.default_rng(1)
    chunks = _sample_rows(n, int(n * _ESTIMATE_FRACTION), _ESTIMATE_CHUNK)
    cols = np.sort(rng.choice(m, size=int(m * _ESTIMATE_FRACTION), replace=False))
    cap_s = cap[cols]
    cols_ok = cap_s > 0

    def read(a0: int, b0: int) -> tuple[NDArray[Any], BoolArray]:
        s, al = source.block(a0, b0)
        sub = s[:, cols]
        use = al[:, cols] & row_ok[a0:b0, None] & cols_ok[None, :]
        if lo > -np.inf:
            use &= sub >= lo
        return sub, use

    parts = list(parallel_map(read, chunks))
    s_sub = np.concatenate([p[0] for p in parts])
    use_sub = np.concatenate([p[1] for p in parts])
    del parts
    q = s_sub.shape[0]
    # Only prices are wanted here, not a precise matching: a looser tolerance.
    _, u_sub = _auction_rounds(
        Source(q, cols.size, scores=s_sub, allowed=use_sub),
        lo=-np.inf,
        row_ok=np.ones(q, dtype=np.bool_),
        cap=cap_s,
        tolerance=min(0.01, 10 * tolerance),
        k=k,
        time_limit=None,
    )
    del s_sub, use_sub
    offsets = np.concatenate([[0], np.cumsum([b - a for a, b in chunks])])

    def envy(c: int, _: int) -> FloatArray:
        a0, b0 = chunks[c]
        s, al = source.block(a0, b0)
        use = al & row_ok[a0:b0, None] & (cap > 0)[None, :]
        if lo > -np.inf:
            use &= s >= lo
        u = u_sub[offsets[c] : offsets[c + 1]].astype(s.dtype)
        # Unusable pairs pushed below 0 (prices are at least 0): arithmetic, no np.where.
        red = (s - u[:, None]) - ~use * (float(s.max(initial=0.0)) - float(s.min(initial=0.0)) + 1)
        return np.asarray(red.max(axis=0), dtype=np.float64)

    best = np.zeros(m)
    for col_max in parallel_map(envy, [(c, c + 1) for c in range(len(chunks))]):
        np.maximum(best, col_max, out=best)
    return best

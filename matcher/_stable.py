"""Stable matching: mentee-proposing deferred acceptance, and blocking pairs
(the public :func:`find_blocking_pairs` and :func:`blocking_pairs`).

Preferences come from the scores with ties broken by index: mentee i prefers
mentor j to j' when ``s[i, j] > s[i, j']``, or the scores are equal and
``j < j'``; mentor j prefers mentee i to i' likewise. Only usable pairs
(allowed, at or above ``min_score``) are acceptable to either side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher._input import above_mask, validate
from matcher._parallel import parallel_map
from matcher._result import Assignment

__all__ = [
    "blocking_mask_rows",
    "blocking_pairs",
    "blocking_pairs_rows",
    "deferred_acceptance",
    "find_blocking_pairs",
]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

# Pairs per row block when looking for blocking pairs.
_BLOCKING_BLOCK = 1 << 22


def deferred_acceptance(
    s: NDArray[Any], use: BoolArray, cap: IntArray
) -> tuple[IntArray, IntArray]:
    """Mentee-optimal stable b-matching; each round is vectorized over proposals.

    Parameters
    ----------
    s : ndarray, shape (n_mentees, n_mentors)
    use : ndarray of bool, shape (n_mentees, n_mentors)
        Acceptable pairs.
    cap : ndarray of int64, shape (n_mentors,)

    Returns
    -------
    rows, cols : ndarray of int64
        Matched pairs sorted by mentee.
    """
    n, m = use.shape
    idx_t = np.int32 if m < 2**31 else np.int64
    keyed = np.where(use, -s.astype(np.float64), np.inf)
    # Stable sort keeps lower mentor indices first among equal scores.
    pref = np.argsort(keyed, axis=1, kind="stable").astype(idx_t)
    deg = use.sum(axis=1)
    ptr = np.zeros(n, dtype=np.int64)
    free = deg > 0
    held_i = np.zeros(0, dtype=np.int64)
    held_j = np.zeros(0, dtype=np.int64)
    while True:
        prop = np.flatnonzero(free & (ptr < deg))
        if prop.size == 0:
            break
        pj = pref[prop, ptr[prop]].astype(np.int64)
        ptr[prop] += 1
        ci = np.concatenate([held_i, prop])
        cj = np.concatenate([held_j, pj])
        cs = s[ci, cj]
        order = np.lexsort((ci, -cs, cj))
        ci, cj = ci[order], cj[order]
        first = np.searchsorted(cj, cj, side="left")
        keep = (np.arange(ci.size) - first) < cap[cj]
        free[ci] = ~keep
        held_i, held_j = ci[keep], cj[keep]
    order = np.argsort(held_i, kind="stable")
    return held_i[order], held_j[order]


def blocking_mask_rows(
    s: NDArray[Any],
    use: BoolArray,
    start: int,
    cur_j: IntArray,
    cur_s: FloatArray,
    free_cap: BoolArray,
    worst_s: FloatArray,
    worst_i: IntArray,
) -> BoolArray:
    """Blocking pairs among mentee rows ``start:start + len(s)``.

    ``cur_j``/``cur_s`` are each mentee's mentor and score (-1 / -inf when
    unmatched); ``free_cap`` marks mentors below capacity; ``worst_s``/``worst_i``
    are the score and index of each mentor's least preferred current mentee.
    """
    rows = np.arange(start, start + s.shape[0])
    cols = np.arange(s.shape[1])
    cj = cur_j[rows][:, None]
    cs = cur_s[rows][:, None]
    mentee_wants = (s > cs) | ((s == cs) & (cols[None, :] < cj))
    mentor_wants = (
        free_cap[None, :]
        | (s > worst_s[None, :])
        | ((s == worst_s[None, :]) & (rows[:, None] < worst_i[None, :]))
    )
    return np.asarray(use & mentee_wants & mentor_wants & (cols[None, :] != cj), dtype=np.bool_)


#: A row block in which more than this share of the pairs are candidates (s at or
#: above the mentee's current score: mostly unmatched mentees) is checked densely.
DENSE_SHARE = 1 / 16


def blocking_pairs_rows(
    s: NDArray[Any],
    allowed: BoolArray,
    lo: float,
    start: int,
    cur_j: IntArray,
    cur_s: FloatArray,
    free_cap: BoolArray,
    worst_s: FloatArray,
    worst_i: IntArray,
) -> tuple[IntArray, IntArray]:
    """Blocking pairs ``(mentee, mentor)`` among mentee rows ``start:start + len(s)``.

    The same pairs as ``np.nonzero(blocking_mask_rows(...))`` on the usable mask
    (``allowed`` and at least ``lo``), in the same row-major order, with the mentee
    index made global. A pair can only block if its score is at least the mentee's
    current one, so a single comparison pass over the block picks a superset of
    candidates and the exact test (the same expressions, on the same dtypes) runs on
    those alone. When the candidates are many (unmatched mentees want every mentor),
    the block is tested densely instead.
    """
    n_rows, n_cols = s.shape
    cs = cur_s[start : start + n_rows]
    if np.issubdtype(s.dtype, np.floating):
        # At most the current score, in the block's own dtype (a cheaper comparison):
        # one step down after rounding, so s >= cs implies s >= thr.
        thr = np.nextafter(cs.astype(s.dtype), s.dtype.type(-np.inf))
    else:
        thr = cs
    cand = s >= thr[:, None]
    if np.count_nonzero(cand) > DENSE_SHARE * cand.size:
        use = above_mask(s, allowed, lo)
        mask = blocking_mask_rows(s, use, start, cur_j, cur_s, free_cap, worst_s, worst_i)
        bi, bj = np.divmod(np.flatnonzero(mask), n_cols)  # 2-D nonzero is several x slower
        return bi + start, bj
    flat = np.flatnonzero(cand)
    r, c = np.divmod(flat, n_cols)
    sv = np.ravel(s)[flat]
    gi = r + start
    keep = above_mask(sv, np.ravel(allowed)[flat], lo)
    cjr, csr = cur_j[gi], cur_s[gi]
    keep &= (sv > csr) | ((sv == csr) & (c < cjr))
    keep &= c != cjr
    ws = worst_s[c]
    keep &= free_cap[c] | (sv > ws) | ((sv == ws) & (gi < worst_i[c]))
    return gi[keep], c[keep]


def find_blocking_pairs(
    scores: Any,
    assignment: Assignment,
    *,
    capacity: int | NDArray[np.integer[Any]] | Sequence[int] | None = None,
    allowed: NDArray[np.bool_] | None = None,
    min_score: float | None = None,
) -> tuple[IntArray, IntArray]:
    """All blocking pairs of an assignment.

    A blocking pair is a usable pair (allowed, at or above ``min_score``)
    ``(i, j)`` not matched together where mentee i prefers j to its mentor (or
    is unmatched) and mentor j has free capacity or prefers i to its least
    preferred mentee. Preferences follow the scores with ties broken by index
    (lower index preferred), as in ``objective="stable"``.

    Parameters
    ----------
    scores, capacity, allowed, min_score
        As in :func:`matcher.assign`.
    assignment : Assignment
        The matching to check (any objective).

    Returns
    -------
    mentee, mentor : ndarray of int64
        The blocking pairs, sorted by mentee then mentor.

    Examples
    --------
    >>> import numpy as np
    >>> from matcher import assign, find_blocking_pairs
    >>> scores = np.array([[0.9, 0.5], [0.8, 0.1]])
    >>> a = assign(scores)
    >>> a.mentor.tolist()
    [1, 0]
    >>> [x.tolist() for x in find_blocking_pairs(scores, a)]
    [[0], [0]]
    """
    prob = validate(
        scores,
        capacity=capacity,
        allowed=allowed,
        min_score=min_score,
        pins=None,
        objective="stable",
    )
    src = prob.source
    n, m = src.n_mentees, src.n_mentors
    cur_j = np.full(n, -1, dtype=np.int64)
    cur_s = np.full(n, -np.inf)
    cur_j[assignment.mentee] = assignment.mentor
    cur_s[assignment.mentee] = assignment.score
    load = np.bincount(assignment.mentor, minlength=m)
    free_cap = load < prob.capacity
    # Least preferred current mentee of each mentor: lowest score, then highest index.
    worst_s = np.full(m, np.inf)
    worst_i = np.full(m, -1, dtype=np.int64)
    if assignment.mentee.size:
        o = np.lexsort((-assignment.mentee, assignment.score, assignment.mentor))
        mj = assignment.mentor[o]
        first = np.flatnonzero(np.r_[True, mj[1:] != mj[:-1]])
        worst_s[mj[first]] = assignment.score[o][first]
        worst_i[mj[first]] = assignment.mentee[o][first]
    lo = -np.inf if prob.min_score is None else prob.min_score

    def check(a0: int, b0: int) -> tuple[IntArray, IntArray]:
        s, a = src.block(a0, b0)
        return blocking_pairs_rows(s, a, lo, a0, cur_j, cur_s, free_cap, worst_s, worst_i)

    # Row blocks on every core; each is one comparison pass plus the exact test of
    # its few candidates (see blocking_pairs_rows).
    step = max(1, _BLOCKING_BLOCK // max(m, 1))
    found = list(parallel_map(check, ((a0, min(n, a0 + step)) for a0 in range(0, n, step))))
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate([i for i, _ in found]), np.concatenate([j for _, j in found])


def blocking_pairs(
    scores: Any,
    assignment: Assignment,
    *,
    capacity: int | NDArray[np.integer[Any]] | Sequence[int] | None = None,
    allowed: NDArray[np.bool_] | None = None,
    min_score: float | None = None,
) -> int:
    """Count the blocking pairs of an assignment (see :func:`find_blocking_pairs`).

    Examples
    --------
    >>> import numpy as np
    >>> from matcher import assign, blocking_pairs
    >>> scores = np.array([[0.9, 0.5], [0.8, 0.1]])
    >>> blocking_pairs(scores, assign(scores)), blocking_pairs(
    ...     scores, assign(scores, objective="stable"))
    (1, 0)
    """
    i, _ = find_blocking_pairs(
        scores, assignment, capacity=capacity, allowed=allowed, min_score=min_score
    )
    return int(i.size)

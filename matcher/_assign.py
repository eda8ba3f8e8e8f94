"""Public entry points: :func:`assign` and :func:`blocking_pairs`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher._errors import InvalidToleranceError, MatcherError
from matcher._fair import best_bottleneck
from matcher._input import Problem, Source, above_mask, validate
from matcher._parallel import parallel_map
from matcher._result import Assignment, Solved
from matcher._solve import DEFAULT_DENSE_LIMIT, DENSE_LIMIT_REPLICATED, solve
from matcher._stable import blocking_pairs_rows, deferred_acceptance

__all__ = ["assign", "blocking_pairs", "find_blocking_pairs"]

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

# fair and stable work on the whole matrix in memory.
_MAX_MATERIALIZED = 200_000_000
# Pairs per row block when looking for blocking pairs.
_BLOCKING_BLOCK = 1 << 22


def assign(
    scores: Any,
    *,
    capacity: int | NDArray[np.integer[Any]] | Sequence[int] | None = None,
    allowed: NDArray[np.bool_] | None = None,
    min_score: float | None = None,
    pins: Sequence[tuple[int, int]] | NDArray[np.integer[Any]] | None = None,
    objective: str = "total",
    dense_limit: int | None = None,
    candidates: int = 20,
    time_limit: float | None = None,
    tolerance: float = 0.0,
) -> Assignment:
    """Choose mentor-mentee pairs that optimize an objective.

    Parameters
    ----------
    scores : array_like, shape (n_mentees, n_mentors), or lazy matrix
        Pair scores, rows are mentees. A lazy matrix has ``shape``, ``dtype``,
        ``rows(start, stop)`` (a dense float block) and ``allowed_rows(start,
        stop)`` (its bool mask); it is read one row block at a time.
    capacity : int or array_like of int, shape (n_mentors,), optional
        How many mentees each mentor can take (default 1).
    allowed : ndarray of bool, shape (n_mentees, n_mentors), optional
        Hard mask of the pairs that may be matched (default: all). Not with a
        lazy matrix, which brings its own.
    min_score : float, optional
        Pairs scoring below it are never chosen; their mentees may stay unmatched.
    pins : sequence of (mentee, mentor), optional
        Pairs that are kept as given; they use their mentors' capacity, are
        not subject to ``min_score``, and the rest is optimized around them.
    objective : {"total", "coverage", "fair", "stable"}
        ``total`` maximizes the sum of scores (a pair scoring below 0 never
        helps, so it is treated as under ``min_score``). ``coverage`` maximizes
        the number of matched mentees, then the total. ``fair`` keeps the
        maximum coverage, maximizes the lowest matched score among those
        matchings, then the total. ``stable`` runs mentee-proposing deferred
        acceptance (preferences from the scores, ties broken by index).
    dense_limit : int, optional
        Problems of at most ``dense_limit**2`` pairs use SciPy's dense
        Hungarian solver; larger ones are split into connected components and
        solved on a certified sparse candidate graph.
    candidates : int, optional
        Partners kept per mentee and per mentor in the sparse candidate graph
        (default 20: fewer certification rounds than 12 on scoring-engine cohorts).
    time_limit : float, optional
        Seconds after which the sparse path stops adding pairs and returns its
        best matching with a proven gap instead of a certificate.
    tolerance : float, optional
        Relative optimality gap the caller accepts, in [0, 0.5) (default 0: the
        certified optimum). Only with ``objective="total"``. Above 0, problems
        on the sparse path are solved by a warm-started auction and stop as
        soon as a pass over all pairs proves ``(optimum - total) / optimum <=
        tolerance``: much faster for 50,000+ per side. The result then says
        ``optimal=False``, ``gap`` the proven bound, ``method="auction"``. If the
        auction stalls above the tolerance (identical places of one mentor can
        trade back and forth), the certified sparse path takes over, unless a
        ``time_limit`` is set: then the auction's result and gap are returned.

    Returns
    -------
    Assignment
        Pairs sorted by mentee, their scores and total, unmatched mentees with
        a reason each, and whether the result is certified optimal.

    Raises
    ------
    InvalidScoresError, InvalidMaskError, InvalidCapacityError, InvalidPinError,
    UnknownObjectiveError
        Subclasses of :class:`MatcherError` (a ``ValueError``) on bad input.

    Notes
    -----
    The same input always gives the same pairs: every solver used is
    deterministic, and stable matching breaks ties by index.

    Examples
    --------
    >>> import numpy as np
    >>> from matcher import assign
    >>> scores = np.array([[0.9, 0.8], [0.85, 0.1], [0.2, 0.3]])
    >>> a = assign(scores, min_score=0.25)
    >>> a.mentee.tolist(), a.mentor.tolist(), round(a.total, 2)
    ([0, 1], [1, 0], 1.65)
    >>> a.unmatched.tolist(), a.reasons
    ([2], ('capacity_exhausted',))
    >>> assign(scores, capacity=2).mentor.tolist()
    [0, 0, 1]
    """
    prob = validate(
        scores,
        capacity=capacity,
        allowed=allowed,
        min_score=min_score,
        pins=pins,
        objective=objective,
    )
    tolerance = _check_tolerance(tolerance, objective)
    limit = DEFAULT_DENSE_LIMIT if dense_limit is None else int(dense_limit)
    n_slots = int(np.minimum(prob.capacity, prob.source.n_mentees).sum())
    if dense_limit is None and n_slots >= 1.25 * prob.source.n_mentees:
        # With spare mentor places the dense solver finds short augmenting paths and
        # stays fast longer; a tight problem (4,000 mentees for 4,000 places) does not.
        limit = DENSE_LIMIT_REPLICATED
    n, m = prob.source.n_mentees, prob.source.n_mentors
    row_ok = np.ones(n, dtype=np.bool_)
    row_ok[prob.pin_mentee] = False
    cap = prob.capacity - np.bincount(prob.pin_mentor, minlength=m)
    lo = -np.inf if prob.min_score is None else prob.min_score
    if objective == "total":
        lo = max(lo, 0.0)
    if objective in ("stable", "fair"):
        if n * m > _MAX_MATERIALIZED:
            raise MatcherError(
                f"objective {objective!r} holds the whole matrix in memory, expected at most "
                f"{_MAX_MATERIALIZED} pairs, got shape ({n}, {m})"
            )
        s, a = prob.source.dense()
        above = above_mask(s, a, lo)
        use = above & row_ok[:, None] & (cap > 0)[None, :]
        if objective == "stable":
            r, c = deferred_acceptance(s, use, cap)
            solved = Solved(
                r,
                c,
                s[r, c].astype(np.float64),
                True,
                0.0,
                "deferred_acceptance",
                np.asarray(a.any(axis=1), dtype=np.bool_),
                np.asarray(above.any(axis=1), dtype=np.bool_),
            )
            return _build(prob, solved, lo)
        lo = max(lo, best_bottleneck(s, use, cap))
        prob = Problem(
            Source(n, m, scores=s, allowed=a),
            prob.capacity,
            prob.min_score,
            prob.pin_mentee,
            prob.pin_mentor,
            objective,
        )
    offset = 0.0
    if objective in ("coverage", "fair"):
        offset = _coverage_offset(prob.source, lo, cap, row_ok)
    solved = solve(
        prob.source,
        lo=lo,
        offset=offset,
        row_ok=row_ok,
        cap=cap,
        dense_limit=limit,
        k=candidates,
        time_limit=time_limit,
        tolerance=tolerance,
    )
    if objective == "fair":
        # Reasons refer to min_score, not to the bottleneck found here.
        s, a = prob.source.dense()
        base = -np.inf if prob.min_score is None else prob.min_score
        above = above_mask(s, a, base)
        solved = Solved(
            solved.rows,
            solved.cols,
            solved.scores,
            solved.optimal,
            solved.gap,
            solved.method,
            solved.any_allowed,
            np.asarray(above.any(axis=1), dtype=np.bool_),
        )
    return _build(prob, solved, lo)


def _check_tolerance(tolerance: object, objective: str) -> float:
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, np.floating)):
        raise InvalidToleranceError(
            f"tolerance: expected a number in [0, 0.5), got {type(tolerance).__name__}"
        )
    value = float(tolerance)
    if not 0.0 <= value < 0.5:
        raise InvalidToleranceError(f"tolerance: expected a number in [0, 0.5), got {value!r}")
    if value > 0 and objective != "total":
        raise InvalidToleranceError(
            f"tolerance: only objective 'total' accepts a gap, got objective {objective!r} "
            f"with tolerance {value!r}"
        )
    return value


def _coverage_offset(source: Source, lo: float, cap: IntArray, row_ok: BoolArray) -> float:
    """A weight M added to every pair so that one more pair beats any score gain."""
    smax, smin = -np.inf, np.inf
    step = max(1, (1 << 24) // max(source.n_mentors, 1))
    for a0 in range(0, source.n_mentees, step):
        s, a = source.block(a0, min(source.n_mentees, a0 + step))
        use = above_mask(s, a, lo)
        if use.any():
            vals = s[use]
            smax, smin = max(smax, float(vals.max())), min(smin, float(vals.min()))
    if smax == -np.inf:
        return 0.0
    k = min(int(row_ok.sum()), int(cap.sum()))
    return 1.0 + k * (smax - smin) + abs(smin)


def _build(prob: Problem, solved: Solved, lo: float) -> Assignment:
    n = prob.source.n_mentees
    pin_s, _ = prob.source.pair_values(prob.pin_mentee, prob.pin_mentor)
    mentee = np.concatenate([prob.pin_mentee, solved.rows]).astype(np.int64)
    mentor = np.concatenate([prob.pin_mentor, solved.cols]).astype(np.int64)
    score = np.concatenate([pin_s, solved.scores]).astype(np.float64)
    pinned = np.concatenate(
        [np.ones(prob.pin_mentee.size, np.bool_), np.zeros(solved.rows.size, np.bool_)]
    )
    order = np.argsort(mentee, kind="stable")
    mentee, mentor, score, pinned = mentee[order], mentor[order], score[order], pinned[order]
    matched = np.zeros(n, dtype=np.bool_)
    matched[mentee] = True
    unmatched = np.flatnonzero(~matched).astype(np.int64)
    labels = np.where(
        ~solved.any_allowed[unmatched],
        "no_allowed_mentor",
        np.where(~solved.any_usable[unmatched], "below_min_score", "capacity_exhausted"),
    )
    method = "empty" if n == 0 or prob.source.n_mentors == 0 else solved.method
    return Assignment(
        mentee=mentee,
        mentor=mentor,
        score=score,
        total=float(score.sum()),
        unmatched=unmatched,
        reasons=tuple(str(x) for x in labels.tolist()),
        objective=prob.objective,
        optimal=solved.optimal,
        gap=solved.gap,
        method=method,
        pinned=pinned,
    )


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
        As in :func:`assign`.
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

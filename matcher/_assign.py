"""The public entry point :func:`assign`: validate, then one solver per objective."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher._errors import InvalidToleranceError, MatcherError
from matcher._input import Problem, Source, above_mask, validate
from matcher._result import Assignment, Solved, unmatched_reasons
from matcher._solve import DEFAULT_DENSE_LIMIT, DENSE_LIMIT_REPLICATED, solve
from matcher._stable import deferred_acceptance

__all__ = ["assign"]

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

# fair and stable work on the whole matrix in memory.
_MAX_MATERIALIZED = 200_000_000
#: Candidates per side for the b-matching's first graph: fewer means more check
#: passes over all pairs, more a larger flow (benchmarks/README.md, b-matching).
_MANY_CANDIDATES = 16


def assign(
    scores: Any,
    *,
    capacity: int | NDArray[np.integer[Any]] | Sequence[int] | None = None,
    mentee_capacity: int | NDArray[np.integer[Any]] | Sequence[int] | None = None,
    allowed: NDArray[np.bool_] | None = None,
    min_score: float | None = None,
    pins: Sequence[tuple[int, int]] | NDArray[np.integer[Any]] | None = None,
    objective: str = "total",
    dense_limit: int | None = None,
    candidates: int = 20,
    time_limit: float | None = None,
    tolerance: float = 0.0,
    spread: float = 0.0,
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
    mentee_capacity : int or array_like of int, shape (n_mentees,), optional
        How many mentors each mentee can take (default 1). Above 1 the problem
        is a b-matching (each pair at most once) solved globally by one certified
        min-cost flow per objective level (see Notes); all 1 runs exactly the
        default path.
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

    With ``mentee_capacity`` above 1 (or ``spread``), each objective level is an
    exact min-cost flow (OR-Tools; integer costs scaled so that rounding cannot
    cost more than ~1e-10 per pair). Large problems start from each side's
    top-``candidates`` pairs, and the flow's node potentials price every pair:
    none outside the graph can improve (certified), or the bound gives ``gap``.
    ``coverage`` is lexicographic: most mentees with a first mentor, most pairs,
    then total; ``fair`` keeps both and maximizes the lowest score, then the
    total; ``stable`` is deferred acceptance with places on both sides (no
    blocking pair). ``filled`` gives each mentee's number of mentors.

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
        mentee_capacity=mentee_capacity,
        spread=spread,
    )
    tol = _check_tolerance(tolerance, objective)
    if prob.many:
        if tol > 0:
            raise InvalidToleranceError(
                f"tolerance: the b-matching of mentee_capacity or spread is certified, "
                f"expected tolerance 0, got {tol!r}"
            )
        from matcher._many import assign_many  # the b-matching: loaded when asked for

        return assign_many(prob, min(candidates, _MANY_CANDIDATES), time_limit)
    knobs = _Knobs(_dense_limit(prob, dense_limit), candidates, time_limit, tol)
    return _BY_OBJECTIVE[objective](prob, knobs)


@dataclass(frozen=True)
class _Knobs:
    """How the solvers work (everything :func:`assign` takes besides the problem)."""

    dense_limit: int
    k: int
    time_limit: float | None
    tolerance: float


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


def _dense_limit(prob: Problem, dense_limit: int | None) -> int:
    if dense_limit is not None:
        return int(dense_limit)
    n_slots = int(np.minimum(prob.capacity, prob.source.n_mentees).sum())
    if n_slots >= 1.25 * prob.source.n_mentees:
        # With spare mentor places the dense solver finds short augmenting paths and
        # stays fast longer; a tight problem (4,000 mentees for 4,000 places) does not.
        return DENSE_LIMIT_REPLICATED
    return DEFAULT_DENSE_LIMIT


def _left_after_pins(prob: Problem) -> tuple[BoolArray, IntArray]:
    """Which mentees are still to match, and each mentor's places left after the pins."""
    row_ok = np.ones(prob.source.n_mentees, dtype=np.bool_)
    row_ok[prob.pin_mentee] = False
    cap = prob.capacity - np.bincount(prob.pin_mentor, minlength=prob.source.n_mentors)
    return row_ok, cap


def _min_score(prob: Problem) -> float:
    return -np.inf if prob.min_score is None else prob.min_score


def _materialize(prob: Problem) -> tuple[NDArray[Any], BoolArray]:
    """The whole matrices, for the objectives that work on them in memory."""
    n, m = prob.source.n_mentees, prob.source.n_mentors
    if n * m > _MAX_MATERIALIZED:
        raise MatcherError(
            f"objective {prob.objective!r} holds the whole matrix in memory, expected at most "
            f"{_MAX_MATERIALIZED} pairs, got shape ({n}, {m})"
        )
    return prob.source.dense()


def _solve(
    prob: Problem, knobs: _Knobs, *, lo: float, offset: float, row_ok: BoolArray, cap: IntArray
) -> Solved:
    return solve(
        prob.source,
        lo=lo,
        offset=offset,
        row_ok=row_ok,
        cap=cap,
        dense_limit=knobs.dense_limit,
        k=knobs.k,
        time_limit=knobs.time_limit,
        tolerance=knobs.tolerance,
    )


def _assign_total(prob: Problem, knobs: _Knobs) -> Assignment:
    """The largest total score; a pair scoring below 0 never helps, so it is left out."""
    row_ok, cap = _left_after_pins(prob)
    lo = max(_min_score(prob), 0.0)
    return _build(prob, _solve(prob, knobs, lo=lo, offset=0.0, row_ok=row_ok, cap=cap))


def _assign_coverage(prob: Problem, knobs: _Knobs) -> Assignment:
    """The most matched mentees, then the largest total."""
    row_ok, cap = _left_after_pins(prob)
    lo = _min_score(prob)
    offset = _coverage_offset(prob.source, lo, cap, row_ok)
    return _build(prob, _solve(prob, knobs, lo=lo, offset=offset, row_ok=row_ok, cap=cap))


def _assign_fair(prob: Problem, knobs: _Knobs) -> Assignment:
    """The most matched mentees, then the highest lowest score, then the largest total."""
    from matcher._fair import best_bottleneck  # scipy.sparse.csgraph: for "fair" only

    s, a = _materialize(prob)
    row_ok, cap = _left_after_pins(prob)
    above = above_mask(s, a, _min_score(prob))
    use = above & row_ok[:, None] & (cap > 0)[None, :]
    # Coverage on the pairs at or above the best bottleneck: the same coverage, and
    # no matched pair below it.
    lo = max(_min_score(prob), best_bottleneck(s, use, cap))
    dense = replace(
        prob, source=Source(prob.source.n_mentees, prob.source.n_mentors, scores=s, allowed=a)
    )
    offset = _coverage_offset(dense.source, lo, cap, row_ok)
    solved = _solve(dense, knobs, lo=lo, offset=offset, row_ok=row_ok, cap=cap)
    # Reasons refer to min_score, not to the bottleneck found here.
    return _build(dense, replace(solved, any_usable=np.asarray(above.any(axis=1), dtype=np.bool_)))


def _assign_stable(prob: Problem, _: _Knobs) -> Assignment:
    """Mentee-proposing deferred acceptance (no solver knobs apply)."""
    s, a = _materialize(prob)
    row_ok, cap = _left_after_pins(prob)
    above = above_mask(s, a, _min_score(prob))
    use = above & row_ok[:, None] & (cap > 0)[None, :]
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
    return _build(prob, solved)


_BY_OBJECTIVE: dict[str, Callable[[Problem, _Knobs], Assignment]] = {
    "total": _assign_total,
    "coverage": _assign_coverage,
    "fair": _assign_fair,
    "stable": _assign_stable,
}


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


def _build(prob: Problem, solved: Solved) -> Assignment:
    """Pins and solved pairs together, sorted by mentee, with a reason per unmatched one."""
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
    method = "empty" if n == 0 or prob.source.n_mentors == 0 else solved.method
    return Assignment(
        mentee=mentee,
        mentor=mentor,
        score=score,
        total=float(score.sum()),
        unmatched=unmatched,
        reasons=unmatched_reasons(unmatched, solved.any_allowed, solved.any_usable),
        objective=prob.objective,
        optimal=solved.optimal,
        gap=solved.gap,
        method=method,
        pinned=pinned,
    )

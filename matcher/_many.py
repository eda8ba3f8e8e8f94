"""The b-matching objectives: several mentors per mentee (``mentee_capacity``) and ``spread``.

Every objective is one or more certified min-cost flows (:mod:`matcher._bmatch`) on the
pairs left after the pins (a pin uses a place on both sides; a pinned pair is
never chosen again):

* ``total``: the largest total score (pairs under 0 never help, so are left out).
* ``coverage``: lexicographic: the most mentees reaching their first mentor (pinned
  mentees already have), then the most pairs (one flow with integer gains, see
  :func:`_coverage_floors`), then, with both as floors, the largest total.
* ``fair``: the coverage of the first two levels, then the highest lowest free
  score (bisection over the distinct scores, each step the first two levels on the
  pairs at or above it), then the largest total.
* ``stable``: mentee-proposing deferred acceptance with places on both sides;
  the result has no blocking pair (a usable, unmatched pair whose mentee has a
  free place or prefers the mentor to its worst one, and whose mentor likewise).

Spread (``spread = b > 0``): the k-th place of every mentor and of every mentee
(pins counted first) earns a bonus ``b / k``, added in the same flow with each
capacity split into unit places. The bonus is concave in the load, so a first
place (worth b) beats a second (b/2) by b/2, a second a third by b/6: with ``b``
at least twice the score range, every mentor and mentee who can get a first
partner gets one before anyone gets a second.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher._bmatch import Frame, Level, LevelResult, solve_level, usable_pairs
from matcher._errors import MatcherError
from matcher._flow import Places
from matcher._input import Problem, Source
from matcher._result import Assignment, SpreadReport, unmatched_reasons

__all__ = ["assign_many", "deferred_acceptance_many"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_MAX_MATERIALIZED = 200_000_000


def _scores(s: NDArray[Any]) -> NDArray[np.floating[Any]]:
    # float32 scores stay float32: the check pass over all pairs works in float32.
    return np.asarray(s, dtype=np.result_type(s, np.float32))


def _ones(s: NDArray[Any]) -> FloatArray:
    return np.ones(np.shape(s))


def _places(left: IntArray, pinned: IntArray, spread: float, first_gain: float) -> Places:
    """Place groups of one side: unit places worth ``spread / k`` (k counts pins
    first), plus ``first_gain`` on a node's very first place."""
    nodes = np.flatnonzero(left > 0).astype(np.int64)
    if spread > 0:
        node = np.repeat(nodes, left[nodes])
        start = np.repeat(np.cumsum(left[nodes]) - left[nodes], left[nodes])
        place = pinned[node] + 1 + np.arange(node.size) - start
        first = place == 1
        gain = spread / place + first_gain * first
        return Places(node, gain.astype(np.float64), np.ones(node.size, np.int64), first)
    fresh = nodes[pinned[nodes] == 0]
    rest = left[nodes] - (pinned[nodes] == 0)
    node = np.concatenate([fresh, nodes[rest > 0]])
    gain = np.concatenate([np.full(fresh.size, first_gain), np.zeros(int((rest > 0).sum()))])
    count = np.concatenate([np.ones(fresh.size, np.int64), rest[rest > 0]])
    first = np.concatenate(
        [np.ones(fresh.size, np.bool_), np.zeros(int((rest > 0).sum()), np.bool_)]
    )
    return Places(node, gain, count.astype(np.int64), first)


class _Sides:
    """Places left and pins per mentee and mentor."""

    def __init__(self, prob: Problem) -> None:
        n, m = prob.source.n_mentees, prob.source.n_mentors
        mcap = prob.mentee_capacity
        self.mcap = np.ones(n, np.int64) if mcap is None else mcap
        self.row_pins = np.bincount(prob.pin_mentee, minlength=n).astype(np.int64)
        self.col_pins = np.bincount(prob.pin_mentor, minlength=m).astype(np.int64)
        self.rcap = self.mcap - self.row_pins
        self.ccap = prob.capacity - self.col_pins

    def frame(self, prob: Problem, lo: float, source: Source | None = None) -> Frame:
        return Frame(
            source or prob.source, lo, self.rcap, self.ccap, prob.pin_mentee, prob.pin_mentor
        )

    def level(self, weight: Any, spread: float, first_gain: float = 0.0, **floors: int) -> Level:
        rows = _places(self.rcap, self.row_pins, spread, first_gain)
        cols = _places(self.ccap, self.col_pins, spread, 0.0) if spread > 0 else None
        plain = spread == 0 and first_gain == 0 and not floors
        return Level(weight, None if plain else rows, cols, **floors)


def _dense(prob: Problem) -> Source:
    n, m = prob.source.n_mentees, prob.source.n_mentors
    if n * m > _MAX_MATERIALIZED:
        raise MatcherError(
            f"objective {prob.objective!r} with mentee capacities holds the whole matrix in "
            f"memory, expected at most {_MAX_MATERIALIZED} pairs, got shape ({n}, {m})"
        )
    s, a = prob.source.dense()
    return Source(n, m, scores=s, allowed=a)


def _lo(prob: Problem) -> float:
    return -np.inf if prob.min_score is None else prob.min_score


def _coverage_floors(sides: _Sides, frame: Frame, k: int) -> tuple[int, int]:
    """The most mentees reaching a first mentor, then the most pairs.

    One flow, lexicographic by integer gains: a pair is worth 1 and a first place
    ``big``, more than any number of pairs, so the optimum ``big * F + P`` has the
    most first places F, then the most pairs P (both exact: integers in float64).
    """
    big = int(min(sides.rcap.clip(0).sum(), sides.ccap.clip(0).sum())) + 1
    level = sides.level(_ones, 0.0, float(big))
    res = solve_level(frame, level, k=k, full=True, time_limit=None)
    assert res is not None  # no floors: always solvable
    firsts, pairs = divmod(round(res.value), big)
    return firsts, pairs


def _fair_threshold(sides: _Sides, frame: Frame, k: int, floors: tuple[int, int]) -> float:
    """The highest t whose pairs at or above it still reach both coverage floors."""
    _, _, es, _, _ = usable_pairs(frame)
    values = np.unique(es)
    if values.size == 0:
        return frame.lo

    def reaches(t: float) -> bool:
        return _coverage_floors(sides, replace(frame, lo=t), k) == floors

    lo, hi = 0, values.size - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if reaches(float(values[mid])):
            lo = mid
        else:
            hi = mid - 1
    return float(values[lo])


def _solve(prob: Problem, k: int, time_limit: float | None) -> tuple[LevelResult, Source]:
    sides = _Sides(prob)
    spread = prob.spread
    if prob.objective == "total":
        frame = sides.frame(prob, max(_lo(prob), 0.0))
        level = sides.level(_scores, spread)
        res = solve_level(frame, level, k=k, full=False, time_limit=time_limit)
        assert res is not None
        return res, prob.source
    source = _dense(prob)
    frame = sides.frame(prob, _lo(prob), source)
    floors = _coverage_floors(sides, frame, k)
    reasons_frame = frame
    if prob.objective == "fair":
        frame = replace(frame, lo=_fair_threshold(sides, frame, k, floors))
    level = sides.level(_scores, spread, floor_first=floors[0], floor_pairs=floors[1])
    res = solve_level(frame, level, k=k, full=True, time_limit=time_limit)
    assert res is not None
    if frame is not reasons_frame:
        _, _, _, allowed, usable = usable_pairs(reasons_frame)
        res = replace(res, any_allowed=allowed, any_usable=usable)
    return res, source


def deferred_acceptance_many(
    s: NDArray[Any], use: BoolArray, rcap: IntArray, ccap: IntArray
) -> tuple[IntArray, IntArray]:
    """Mentee-proposing deferred acceptance with places on both sides.

    Each round, every mentee with a free place proposes to its next acceptable
    mentor (best score first, ties to the lower index); each mentor keeps its
    ``ccap`` best proposers (ties to the lower index) and rejects the rest. A
    mentee proposes to a mentor at most once, so no pair repeats. Returns the
    pairs sorted by mentee then mentor.
    """
    n, _ = use.shape
    keyed = np.where(use, -s.astype(np.float64), np.inf)
    pref = np.argsort(keyed, axis=1, kind="stable")
    deg = use.sum(axis=1)
    ptr = np.zeros(n, dtype=np.int64)
    held_i = np.zeros(0, dtype=np.int64)
    held_j = np.zeros(0, dtype=np.int64)
    while True:
        count = np.bincount(held_i, minlength=n)
        prop = np.flatnonzero((count < rcap) & (ptr < deg))
        if prop.size == 0:
            break
        pj = pref[prop, ptr[prop]].astype(np.int64)
        ptr[prop] += 1
        ci = np.concatenate([held_i, prop])
        cj = np.concatenate([held_j, pj])
        order = np.lexsort((ci, -s[ci, cj], cj))
        ci, cj = ci[order], cj[order]
        keep = (np.arange(ci.size) - np.searchsorted(cj, cj, side="left")) < ccap[cj]
        held_i, held_j = ci[keep], cj[keep]
    order = np.lexsort((held_j, held_i))
    return held_i[order], held_j[order]


def _stable(prob: Problem) -> LevelResult:
    sides = _Sides(prob)
    frame = sides.frame(prob, _lo(prob), _dense(prob))
    s, a = frame.source.dense()
    ei, ej, _, allowed, usable = usable_pairs(frame)
    use = np.zeros(a.shape, np.bool_)
    use[ei, ej] = True
    r, c = deferred_acceptance_many(s, use, sides.rcap, sides.ccap)
    sc = s[r, c].astype(np.float64)
    return LevelResult(r, c, sc, float(sc.sum()), True, 0.0, 0, allowed, usable)


def assign_many(prob: Problem, k: int, time_limit: float | None) -> Assignment:
    """:func:`matcher.assign` for mentee capacities or spread (validated ``prob``)."""
    if prob.objective == "stable":
        if prob.spread > 0:
            raise MatcherError("spread: objective 'stable' takes no spread, got spread > 0")
        res, method = _stable(prob), "deferred_acceptance"
    else:
        res, _ = _solve(prob, k, time_limit)
        method = "min_cost_flow"
    out = _build(prob, res, method)
    if prob.spread > 0:
        base = assign_many(replace(prob, spread=0.0), k, time_limit)
        report = SpreadReport(
            mentors_used=int(np.unique(out.mentor).size),
            mentors_used_without=int(np.unique(base.mentor).size),
            mentees_served=int(np.unique(out.mentee).size),
            mentees_served_without=int(np.unique(base.mentee).size),
            total_without=base.total,
            total_given_up=base.total - out.total,
        )
        out = replace(out, spread=report)
    return out


def _build(prob: Problem, res: LevelResult, method: str) -> Assignment:
    n = prob.source.n_mentees
    pin_s, _ = prob.source.pair_values(prob.pin_mentee, prob.pin_mentor)
    mentee = np.concatenate([prob.pin_mentee, res.rows]).astype(np.int64)
    mentor = np.concatenate([prob.pin_mentor, res.cols]).astype(np.int64)
    score = np.concatenate([pin_s, res.scores]).astype(np.float64)
    pinned = np.concatenate(
        [np.ones(prob.pin_mentee.size, np.bool_), np.zeros(res.rows.size, np.bool_)]
    )
    order = np.lexsort((mentor, mentee))
    mentee, mentor, score, pinned = mentee[order], mentor[order], score[order], pinned[order]
    filled = np.bincount(mentee, minlength=n).astype(np.int64)
    unmatched = np.flatnonzero(filled == 0).astype(np.int64)
    return Assignment(
        mentee=mentee,
        mentor=mentor,
        score=score,
        total=float(score.sum()),
        unmatched=unmatched,
        reasons=unmatched_reasons(unmatched, res.any_allowed, res.any_usable),
        objective=prob.objective,
        optimal=res.optimal,
        gap=res.gap,
        method="empty" if n == 0 or prob.source.n_mentors == 0 else method,
        pinned=pinned,
        filled=filled,
    )

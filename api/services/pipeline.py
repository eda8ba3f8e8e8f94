"""Match one cohort without any database: score, assign, explain the chosen pairs.

The matching run (:mod:`api.services.runs`) and the offline ``mentormatch match``
batch both call :func:`match_cohort`; it works on plain profile dicts and arrays.
The numeric engines come in through :class:`Toolkit`, so tests substitute a fake
that fails on purpose instead of patching modules.

Priority for mentees left unmatched by earlier runs: their rows of the score
matrix get ``priority_bonus`` added before the assignment (on the solver's copy
only), so an optimizer choosing between covering them and covering someone
else prefers them. The bonus never lets a pair under ``min_score`` through (the
threshold is applied to the true scores of those rows first), and persisted
scores, breakdowns and stats are always the true, un-boosted ones.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

import matcher
import scoring

IntArray = npt.NDArray[np.int64]

#: Above this many mentee x mentor pairs the scores are computed lazily, in row
#: blocks, and the matcher works on a sparse candidate graph.
DENSE_PAIR_LIMIT = 150_000_000


class Toolkit:
    """The scoring and matching engines a run uses (the real ones by default)."""

    def compatibility(self, mentees: Any, mentors: Any, config: Any, **kw: Any) -> Any:
        return scoring.compatibility(mentees, mentors, config, **kw)

    def lazy_compatibility(self, mentees: Any, mentors: Any, config: Any, **kw: Any) -> Any:
        return scoring.lazy_compatibility(mentees, mentors, config, **kw)

    def explain(self, compat: Any, mentee: IntArray, mentor: IntArray) -> list[Any]:
        return list(scoring.explain(compat, mentee, mentor))

    def assign(self, scores: Any, **kw: Any) -> Any:
        return matcher.assign(scores, **kw)

    def blocking_pairs(self, scores: Any, assignment: Any, **kw: Any) -> Any:
        return matcher.blocking_pairs(scores, assignment, **kw)


DEFAULT_TOOLKIT = Toolkit()


@dataclass(frozen=True)
class CohortResult:
    """Chosen pairs (indices into the mentee and mentor lists) with their explanations."""

    mentee: IntArray
    mentor: IntArray
    explanations: list[Any]
    unmatched: IntArray
    unmatched_reasons: list[str]
    stats: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


def capacities(mentors: Sequence[Mapping[str, Any]], default_capacity: int) -> IntArray:
    """Each mentor's own capacity, else the program's default."""
    return np.array(
        [default_capacity if m.get("capacity") is None else int(m["capacity"]) for m in mentors],
        dtype=np.int64,
    )


class _Boosted:
    """A lazy score matrix with a per-row bonus, for the solver only."""

    def __init__(self, base: Any, bonus: npt.NDArray[np.float32], min_score: float | None):
        self.base, self.bonus, self.min_score = base, bonus, min_score
        self.shape, self.dtype = base.shape, base.dtype

    def rows(self, start: int, stop: int) -> Any:
        return self.base.rows(start, stop) + self.bonus[start:stop, None]

    def allowed_rows(self, start: int, stop: int) -> Any:
        allowed = self.base.allowed_rows(start, stop)
        if self.min_score is not None:
            boosted = self.bonus[start:stop] > 0
            if boosted.any():
                raw = self.base.rows(start, stop)
                allowed = allowed & ~(boosted[:, None] & (raw < self.min_score))
        return allowed


def _count(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, int | np.integer):
        return int(value)
    return len(value)


def match_cohort(
    mentees: Sequence[Mapping[str, Any]],
    mentors: Sequence[Mapping[str, Any]],
    config: Mapping[str, Any],
    *,
    weights: Mapping[str, float] | None = None,
    exclude_pairs: Iterable[tuple[int, int]] = (),
    capacity: IntArray | None = None,
    pins: Sequence[tuple[int, int]] = (),
    objective: str | None = None,
    priority_rows: IntArray | None = None,
    priority_bonus: float = 0.0,
    dense_pair_limit: int = DENSE_PAIR_LIMIT,
    tools: Toolkit = DEFAULT_TOOLKIT,
    on_phase: Callable[[str], None] | None = None,
) -> CohortResult:
    """Score, assign and explain one cohort; ``config`` is a validated program config.

    ``capacity`` is the free capacity per mentor (default: their own or the config's);
    ``pins`` and ``exclude_pairs`` are (mentee index, mentor index) pairs.
    """
    seconds: dict[str, float] = {}
    notify = on_phase or (lambda _phase: None)
    n_mentees, n_mentors = len(mentees), len(mentors)
    if capacity is None:
        capacity = capacities(mentors, int(config.get("default_capacity", 1)))
    min_score = config.get("min_score")
    objective = objective or config.get("objective") or "total"
    excluded = [(int(i), int(j)) for i, j in exclude_pairs]
    lazy = n_mentees * n_mentors > dense_pair_limit
    if n_mentees == 0 or n_mentors == 0:
        # Nothing to score (e.g. scope "unmatched" with everyone matched): not a failure.
        none = np.zeros(0, dtype=np.int64)
        reasons = ["no_allowed_mentor"] * n_mentees
        stats = _stats(
            n_mentees,
            n_mentors,
            capacity,
            np.zeros(0),
            reasons,
            blocking=0,
            objective=objective,
            min_score=min_score,
            assignment=None,
            extra={"scoring": "none", "excluded_pairs": len(excluded), "pins": len(pins)},
        )
        return CohortResult(none, none, [], np.arange(n_mentees), reasons, stats, {})

    started = time.perf_counter()
    build = tools.lazy_compatibility if lazy else tools.compatibility
    compat = build(mentees, mentors, config, weights=weights, exclude_pairs=excluded or None)
    bonus = np.zeros(n_mentees, dtype=np.float32)
    if priority_rows is not None and len(priority_rows) and priority_bonus > 0:
        bonus[priority_rows] = np.float32(priority_bonus)
    boosted_rows = np.flatnonzero(bonus)
    if lazy:
        scores: Any = _Boosted(compat, bonus, min_score) if len(boosted_rows) else compat
        allowed = None
    else:
        scores, allowed = compat.scores, compat.allowed
        if len(boosted_rows):
            scores = scores.copy()
            allowed = allowed.copy()
            rows = scores[boosted_rows]
            if min_score is not None:
                allowed[boosted_rows] &= rows >= np.float32(min_score)
            scores[boosted_rows] = rows + bonus[boosted_rows, None]
    seconds["score"] = time.perf_counter() - started
    notify("scored")

    started = time.perf_counter()
    kw: dict[str, Any] = {
        "capacity": capacity,
        "min_score": min_score,
        "pins": np.asarray(pins, dtype=np.int64).reshape(-1, 2) if len(pins) else None,
        "objective": objective,
    }
    if allowed is not None:
        kw["allowed"] = allowed
    assignment = tools.assign(scores, **kw)
    seconds["assign"] = time.perf_counter() - started
    started = time.perf_counter()
    blocking = tools.blocking_pairs(
        scores, assignment, capacity=capacity, **({"allowed": allowed} if not lazy else {})
    )
    seconds["stability"] = time.perf_counter() - started
    notify("assigned")

    started = time.perf_counter()
    mentee_idx = np.asarray(assignment.mentee, dtype=np.int64)
    mentor_idx = np.asarray(assignment.mentor, dtype=np.int64)
    explanations = tools.explain(compat, mentee_idx, mentor_idx) if len(mentee_idx) else []
    unmatched = np.asarray(assignment.unmatched, dtype=np.int64)
    reasons = [str(r) for r in assignment.reasons]
    if len(boosted_rows) and min_score is not None and len(unmatched) and not lazy:
        # A boosted row lost its sub-threshold pairs to the mask above: say so, as the
        # matcher would have without the bonus.
        feasible = compat.allowed[unmatched].any(axis=1)
        for k in np.flatnonzero(feasible & (bonus[unmatched] > 0)):
            if reasons[k] == "no_allowed_mentor":
                reasons[k] = "below_min_score"
    seconds["explain"] = time.perf_counter() - started
    notify("explained")

    stats = _stats(
        n_mentees,
        n_mentors,
        capacity,
        np.array([e.score for e in explanations], dtype=np.float64),
        reasons,
        blocking=_count(blocking),
        objective=objective,
        min_score=min_score,
        assignment=assignment,
        extra={
            "scoring": "lazy" if lazy else "dense",
            "excluded_pairs": len(excluded),
            "pins": len(pins),
            "priority_boosted": len(boosted_rows),
        },
    )
    return CohortResult(mentee_idx, mentor_idx, explanations, unmatched, reasons, stats, seconds)


def _stats(
    n_mentees: int,
    n_mentors: int,
    capacity: Any,
    scores: npt.NDArray[np.float64],
    reasons: list[str],
    *,
    blocking: int,
    objective: str,
    min_score: float | None,
    assignment: Any,
    extra: dict[str, Any],
) -> dict[str, Any]:
    matched = len(scores)
    return {
        "n_mentees": n_mentees,
        "n_mentors": n_mentors,
        "capacity": int(np.asarray(capacity).sum()),
        "matched": matched,
        "unmatched": len(reasons),
        "unmatched_by_reason": dict(sorted(Counter(reasons).items())),
        "coverage": matched / n_mentees if n_mentees else 0.0,
        "score_total": float(scores.sum()),
        "score_mean": float(scores.mean()) if matched else None,
        "score_min": float(scores.min()) if matched else None,
        "score_max": float(scores.max()) if matched else None,
        "blocking_pairs": blocking,
        "objective": objective,
        "min_score": min_score,
        "optimal": bool(getattr(assignment, "optimal", True)),
        "gap": float(getattr(assignment, "gap", 0.0) or 0.0),
        "method": str(getattr(assignment, "method", "none")),
        **extra,
    }

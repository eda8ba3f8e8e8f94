"""Match one cohort without any database: score, assign, explain the chosen pairs.

Called by the worker's execution of a run (:func:`api.services.runs.execution.execute_run`)
and by the offline ``mentormatch match`` batch
(:func:`api.services.batch.match_files`); it works on plain profile dicts and arrays and
imports no database code, so the batch starts without loading it. The numeric packages
are reached through the :class:`Engines` protocol, so tests substitute engines that fail
on purpose instead of patching modules; :class:`ScoringAndMatching` is the real one.

Several mentors per mentee: each mentee profile's ``capacity`` (else the config's
``default_mentee_capacity``) is the places it is matched for, passed as the matcher's
``mentee_capacity``; a run's cohort gives each mentee the places it has left
(:func:`api.services.runs.cohort.build_cohort`). ``config.spread`` turns on the
matcher's ``spread`` with the bonus :func:`spread_bonus` (twice the range of the
solver's scores, so every mentor and mentee who can get a first partner gets one
before anyone gets a second); the stats then say what it cost (``spread``: mentors
used and mentees served with and without it, and the total given up against the
unspread optimum, which is solved only then). ``tolerance`` (the argument, else
``config.tolerance``) reaches :func:`matcher.assign`; the stats record it with the
proven ``gap`` and the ``method``.

Priority for mentees left unmatched by earlier runs (``priority_bonus`` on their
rows, for the solver only) is :mod:`api.services.priority_bonus`'s.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

import matcher
import scoring
from api.services.capacity import capacities
from api.services.priority_bonus import solver_view, true_reasons
from models.vocabulary import Objective, Role

IntArray = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
Profile = Mapping[str, object]
Compat = scoring.Compatibility | scoring.LazyCompatibility
Scores = F32 | matcher.LazyScores

#: Above this many mentee x mentor pairs the scores are computed lazily, in row
#: blocks, and the matcher works on a sparse candidate graph.
DENSE_PAIR_LIMIT = 150_000_000


def spread_bonus(priority_bonus: float) -> float:
    """The matcher's ``spread`` for ``config.spread``: twice the range of the solver's
    scores (true scores in [0, 1], plus the priority bonus), the size at which the
    matcher's per-place bonus ``b / k`` gives every first place before any second."""
    return 2.0 * (1.0 + max(priority_bonus, 0.0))


class Engines(Protocol):
    """What a run needs of ``scoring`` and ``matcher``, with the arguments it passes."""

    def compatibility(
        self,
        mentees: Sequence[Profile],
        mentors: Sequence[Profile],
        config: Mapping[str, object],
        *,
        weights: Mapping[str, float] | None,
        exclude_pairs: Sequence[tuple[int, int]] | None,
    ) -> scoring.Compatibility: ...

    def lazy_compatibility(
        self,
        mentees: Sequence[Profile],
        mentors: Sequence[Profile],
        config: Mapping[str, object],
        *,
        weights: Mapping[str, float] | None,
        exclude_pairs: Sequence[tuple[int, int]] | None,
    ) -> scoring.LazyCompatibility: ...

    def explain(
        self, compat: Compat, mentee: IntArray, mentor: IntArray
    ) -> list[scoring.Explanation]: ...

    def assign(
        self,
        scores: Scores,
        *,
        capacity: IntArray,
        allowed: BoolArray | None,
        min_score: float | None,
        pins: IntArray | None,
        objective: str,
        tolerance: float,
        mentee_capacity: IntArray,
        spread: float,
    ) -> matcher.Assignment: ...

    def blocking_pairs(
        self,
        scores: Scores,
        assignment: matcher.Assignment,
        *,
        capacity: IntArray,
        allowed: BoolArray | None,
    ) -> int: ...


class ScoringAndMatching:
    """The real engines: :mod:`scoring` and :mod:`matcher`."""

    def compatibility(
        self,
        mentees: Sequence[Profile],
        mentors: Sequence[Profile],
        config: Mapping[str, object],
        *,
        weights: Mapping[str, float] | None,
        exclude_pairs: Sequence[tuple[int, int]] | None,
    ) -> scoring.Compatibility:
        return scoring.compatibility(
            mentees, mentors, config, weights=weights, exclude_pairs=exclude_pairs
        )

    def lazy_compatibility(
        self,
        mentees: Sequence[Profile],
        mentors: Sequence[Profile],
        config: Mapping[str, object],
        *,
        weights: Mapping[str, float] | None,
        exclude_pairs: Sequence[tuple[int, int]] | None,
    ) -> scoring.LazyCompatibility:
        return scoring.lazy_compatibility(
            mentees, mentors, config, weights=weights, exclude_pairs=exclude_pairs
        )

    def explain(
        self, compat: Compat, mentee: IntArray, mentor: IntArray
    ) -> list[scoring.Explanation]:
        return scoring.explain(compat, mentee, mentor)

    def assign(
        self,
        scores: Scores,
        *,
        capacity: IntArray,
        allowed: BoolArray | None,
        min_score: float | None,
        pins: IntArray | None,
        objective: str,
        tolerance: float,
        mentee_capacity: IntArray,
        spread: float,
    ) -> matcher.Assignment:
        return matcher.assign(
            scores,
            capacity=capacity,
            mentee_capacity=mentee_capacity,
            allowed=allowed,
            min_score=min_score,
            pins=pins,
            objective=objective,
            tolerance=tolerance,
            spread=spread,
        )

    def blocking_pairs(
        self,
        scores: Scores,
        assignment: matcher.Assignment,
        *,
        capacity: IntArray,
        allowed: BoolArray | None,
    ) -> int:
        return matcher.blocking_pairs(scores, assignment, capacity=capacity, allowed=allowed)


REAL_ENGINES: Engines = ScoringAndMatching()


@dataclass(frozen=True)
class CohortResult:
    """Chosen pairs (indices into the mentee and mentor lists) with their explanations."""

    mentee: IntArray
    mentor: IntArray
    explanations: list[scoring.Explanation]
    unmatched: IntArray
    unmatched_reasons: list[str]
    stats: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


# ----------------------------------------------------------------- one cohort


def match_cohort(
    mentees: Sequence[Profile],
    mentors: Sequence[Profile],
    config: Mapping[str, Any],
    *,
    capacity: IntArray,
    weights: Mapping[str, float] | None = None,
    exclude_pairs: Sequence[tuple[int, int]] = (),
    pins: Sequence[tuple[int, int]] = (),
    objective: str | None = None,
    priority_rows: IntArray | None = None,
    priority_bonus: float = 0.0,
    dense_pair_limit: int = DENSE_PAIR_LIMIT,
    tolerance: float | None = None,
    engines: Engines = REAL_ENGINES,
    on_phase: Callable[[str], None] | None = None,
) -> CohortResult:
    """Score, assign and explain one cohort; ``config`` is a validated program config.

    ``capacity`` is the free capacity per mentor
    (:func:`api.services.eligibility.capacities` less the places taken);
    each mentee is matched for its profile's ``capacity`` places (else the config's
    ``default_mentee_capacity``); ``pins`` and ``exclude_pairs`` are (mentee index,
    mentor index) pairs. ``tolerance`` reaches :func:`matcher.assign` (its auction
    path for large cohorts; None: the config's ``tolerance``, 0 the exact optimum).
    ``on_phase`` is told ``"scored"``, ``"assigned"`` and ``"explained"``.
    """
    seconds: dict[str, float] = {}
    notify = on_phase or (lambda _phase: None)
    n_mentees, n_mentors = len(mentees), len(mentors)
    min_score = config.get("min_score")
    objective = objective or config.get("objective") or Objective.TOTAL
    gap = float(config.get("tolerance", 0.0) if tolerance is None else tolerance)
    places = capacities(mentees, config, Role.MENTEE)
    excluded = [(int(i), int(j)) for i, j in exclude_pairs]
    lazy = n_mentees * n_mentors > dense_pair_limit
    extra: dict[str, Any] = {
        "excluded_pairs": len(excluded),
        "pins": len(pins),
        "mentee_capacity": int(places.sum()),
        "tolerance": gap,
    }
    if n_mentees == 0 or n_mentors == 0:
        # Nothing to score (e.g. scope "unmatched" with everyone matched): not a failure.
        none = np.zeros(0, dtype=np.int64)
        reasons = ["no_allowed_mentor"] * n_mentees
        stats = _stats(n_mentees, n_mentors, capacity, [], reasons, objective, min_score, None)
        stats.update(extra, scoring="none", blocking_pairs=0, spread=None)
        return CohortResult(none, none, [], np.arange(n_mentees, dtype=np.int64), reasons, stats)

    started = time.perf_counter()
    build = engines.lazy_compatibility if lazy else engines.compatibility
    compat = build(mentees, mentors, config, weights=weights, exclude_pairs=excluded or None)
    bonus = np.zeros(n_mentees, dtype=np.float32)
    if priority_rows is not None and len(priority_rows) and priority_bonus > 0:
        bonus[priority_rows] = np.float32(priority_bonus)
    scores, allowed = solver_view(compat, bonus, min_score)
    seconds["score"] = time.perf_counter() - started
    notify("scored")

    started = time.perf_counter()
    pin_array = np.asarray(pins, dtype=np.int64).reshape(-1, 2) if len(pins) else None
    assignment = engines.assign(
        scores,
        capacity=capacity,
        allowed=allowed,
        min_score=min_score,
        pins=pin_array,
        objective=objective,
        tolerance=gap,
        mentee_capacity=places,
        spread=spread_bonus(priority_bonus) if config.get("spread") else 0.0,
    )
    seconds["assign"] = time.perf_counter() - started
    started = time.perf_counter()
    # Blocking pairs are defined for one mentor per mentee (matcher.blocking_pairs).
    several = bool((places > 1).any())
    blocking = (
        None
        if several
        else engines.blocking_pairs(scores, assignment, capacity=capacity, allowed=allowed)
    )
    seconds["stability"] = time.perf_counter() - started
    notify("assigned")

    started = time.perf_counter()
    mentee_idx = np.asarray(assignment.mentee, dtype=np.int64)
    mentor_idx = np.asarray(assignment.mentor, dtype=np.int64)
    explanations = engines.explain(compat, mentee_idx, mentor_idx) if len(mentee_idx) else []
    unmatched = np.asarray(assignment.unmatched, dtype=np.int64)
    reasons = true_reasons(compat, unmatched, assignment.reasons, bonus, min_score)
    seconds["explain"] = time.perf_counter() - started
    notify("explained")

    scores_of = [e.score for e in explanations]
    stats = _stats(
        n_mentees, n_mentors, capacity, scores_of, reasons, objective, min_score, assignment
    )
    stats.update(
        extra,
        scoring="lazy" if lazy else "dense",
        blocking_pairs=None if blocking is None else int(blocking),
        priority_boosted=int(np.count_nonzero(bonus)),
        spread=_spread_stats(assignment.spread),
    )
    return CohortResult(mentee_idx, mentor_idx, explanations, unmatched, reasons, stats, seconds)


def _stats(
    n_mentees: int,
    n_mentors: int,
    capacity: IntArray,
    pair_scores: Sequence[float],
    reasons: list[str],
    objective: str,
    min_score: float | None,
    assignment: matcher.Assignment | None,
) -> dict[str, Any]:
    """A run's ``stats`` from its true (un-boosted) pair scores: ``matched`` counts
    pairs, ``mentees_served`` the mentees with at least one mentor (``coverage`` is
    their share), ``mentors_used`` the mentors with at least one mentee."""
    scores = np.asarray(pair_scores, dtype=np.float64)
    matched = len(scores)
    served = n_mentees - len(reasons)
    used = 0 if assignment is None else int(np.unique(assignment.mentor).size)
    return {
        "n_mentees": n_mentees,
        "n_mentors": n_mentors,
        "capacity": int(capacity.sum()),
        "matched": matched,
        "mentees_served": served,
        "mentors_used": used,
        "unmatched": len(reasons),
        "unmatched_by_reason": dict(sorted(Counter(reasons).items())),
        "coverage": served / n_mentees if n_mentees else 0.0,
        "score_total": float(scores.sum()),
        "score_mean": float(scores.mean()) if matched else None,
        "score_min": float(scores.min()) if matched else None,
        "score_max": float(scores.max()) if matched else None,
        "objective": objective,
        "min_score": min_score,
        "optimal": True if assignment is None else bool(assignment.optimal),
        "gap": 0.0 if assignment is None else float(assignment.gap),
        "method": "none" if assignment is None else assignment.method,
    }


def _spread_stats(report: matcher.SpreadReport | None) -> dict[str, Any] | None:
    """What ``config.spread`` cost, against the unspread optimum of the same objective
    (None without spread). Totals are the solver's: the priority bonus is in both."""
    if report is None:
        return None
    return {
        "mentors_used_without": report.mentors_used_without,
        "mentees_served_without": report.mentees_served_without,
        "total_without": report.total_without,
        "total_given_up": report.total_given_up,
    }

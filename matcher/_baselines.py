"""Baselines to measure an optimal matching against: greedy and random feasible.

Both take the inputs of :func:`matcher.assign` that a report needs (scores, mentor
capacities, an allowed mask; each mentee takes at most one mentor) and return a
:class:`Baseline`. They loop over the pairs they choose, never over all pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher._errors import InvalidScoresError
from matcher._input import _check_allowed, _check_scores, check_capacity

__all__ = ["Baseline", "greedy_matching", "random_matching"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Baseline:
    """Pairs of a baseline matching, in the order they were chosen.

    ``mentee``, ``mentor`` (int64) and ``score`` (float64) have one entry per pair.
    """

    mentee: IntArray
    mentor: IntArray
    score: FloatArray

    @property
    def total(self) -> float:
        """Sum of the chosen pairs' scores."""
        return float(self.score.sum())


def _inputs(scores: Any, capacity: Any, allowed: Any) -> tuple[FloatArray, IntArray, BoolArray]:
    source, lazy = _check_scores(scores)
    if lazy or not source.is_dense:
        raise InvalidScoresError("expected a dense score matrix for a baseline, got lazy scores")
    s = np.asarray(source.scores_array, dtype=np.float64)
    mask = _check_allowed(allowed, s.shape)
    cap = check_capacity(capacity, s.shape[1]).copy()
    return s, cap, mask


def _result(mentee: list[int], mentor: list[int], s: FloatArray) -> Baseline:
    rows = np.asarray(mentee, dtype=np.int64)
    cols = np.asarray(mentor, dtype=np.int64)
    return Baseline(rows, cols, s[rows, cols] if len(rows) else np.zeros(0))


def greedy_matching(scores: Any, *, capacity: Any = None, allowed: Any = None) -> Baseline:
    """Take the highest-scoring allowed pair whose mentee is free and whose mentor has
    a place, again and again, until none is left.

    Ties go to the lowest mentee index, then the lowest mentor index.

    Parameters
    ----------
    scores : array_like, shape (n_mentees, n_mentors)
        Dense, finite scores.
    capacity : int or array_like of int, shape (n_mentors,), optional
        Places per mentor (default 1).
    allowed : array_like of bool, shape (n_mentees, n_mentors), optional
        Pairs that may be chosen (default all).

    Returns
    -------
    Baseline
        The chosen pairs, best first.

    Examples
    --------
    >>> b = greedy_matching([[0.9, 0.8], [0.8, 0.1]])
    >>> b.mentor.tolist(), b.score.tolist()
    ([0, 1], [0.9, 0.1])
    """
    s, cap, mask = _inputs(scores, capacity, allowed)
    n_mentees, n_mentors = s.shape
    # Each free mentee's best open mentor; a column that fills is masked out and only
    # the rows whose best it was are looked at again (rows, never pairs, in Python).
    work = np.where(mask & (cap > 0)[None, :], s, -np.inf)
    best_col = np.argmax(work, axis=1) if n_mentors else np.zeros(n_mentees, dtype=np.int64)
    best = work[np.arange(n_mentees), best_col] if n_mentors else np.full(n_mentees, -np.inf)
    chosen_rows: list[int] = []
    chosen_cols: list[int] = []
    while n_mentors and np.isfinite(best).any():
        i = int(np.argmax(best))
        j = int(best_col[i])
        chosen_rows.append(i)
        chosen_cols.append(j)
        best[i] = -np.inf
        cap[j] -= 1
        if cap[j] == 0:
            work[:, j] = -np.inf
            stale = np.flatnonzero((best_col == j) & np.isfinite(best))
            if len(stale):
                best_col[stale] = np.argmax(work[stale], axis=1)
                best[stale] = work[stale, best_col[stale]]
    return _result(chosen_rows, chosen_cols, s)


def random_matching(
    scores: Any, *, rng: np.random.Generator, capacity: Any = None, allowed: Any = None
) -> Baseline:
    """A random feasible matching: mentees in random order each take an allowed
    mentor with a free place uniformly at random, while one is left.

    It is maximal (no free mentee has an allowed mentor with a free place) and
    ignores the scores except to report them.

    Parameters
    ----------
    scores : array_like, shape (n_mentees, n_mentors)
        Dense, finite scores.
    rng : numpy.random.Generator
        The source of randomness (the same seed gives the same matching).
    capacity : int or array_like of int, shape (n_mentors,), optional
        Places per mentor (default 1).
    allowed : array_like of bool, shape (n_mentees, n_mentors), optional
        Pairs that may be chosen (default all).

    Returns
    -------
    Baseline
        The chosen pairs, in the order the mentees were drawn.

    Examples
    --------
    >>> b = random_matching([[0.9, 0.8], [0.8, 0.1]], rng=np.random.default_rng(0))
    >>> sorted(b.mentee.tolist()), round(b.total, 2) in (1.0, 1.6)
    ([0, 1], True)
    """
    s, cap, mask = _inputs(scores, capacity, allowed)
    chosen_rows: list[int] = []
    chosen_cols: list[int] = []
    for i in rng.permutation(s.shape[0]):  # one draw per mentee
        open_cols = np.flatnonzero(mask[i] & (cap > 0))
        if not len(open_cols):
            continue
        j = int(open_cols[rng.integers(len(open_cols))])
        chosen_rows.append(int(i))
        chosen_cols.append(j)
        cap[j] -= 1
    return _result(chosen_rows, chosen_cols, s)

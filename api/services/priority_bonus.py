"""Priority for mentees left unmatched by earlier runs, for the solver only.

Their rows of the score matrix get ``priority_bonus`` added before the assignment (on
the solver's copy only), so an optimizer choosing between covering them and covering
someone else prefers them. The bonus never lets a pair under ``min_score`` through
(the threshold is applied to the true scores of those rows first,
:func:`_boosted_allowed`), and persisted scores, breakdowns and stats are always the
true, un-boosted ones (:func:`true_reasons`). Dense and lazy scores take the same two
functions, on the whole matrix or one row block at a time. Used by
:func:`api.services.cohort_matching.match_cohort`; no database code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

import matcher
import scoring

IntArray = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
Compat = scoring.Compatibility | scoring.LazyCompatibility
Scores = F32 | matcher.LazyScores


def _boosted_scores(scores: F32, bonus: F32) -> F32:
    """``scores`` with each row's bonus added (a new array)."""
    return scores + bonus[:, None]


def _boosted_allowed(
    allowed: BoolArray, scores: F32, bonus: F32, min_score: float | None
) -> BoolArray:
    """``allowed`` less the pairs of boosted rows whose true score is under ``min_score``:
    the bonus must not lift them over the matcher's threshold."""
    boosted = bonus > 0
    if min_score is None or not boosted.any():
        return allowed
    return allowed & ~(boosted[:, None] & (scores < np.float32(min_score)))


class _Boosted:
    """A lazy score matrix with a per-row bonus, for the solver only."""

    def __init__(self, base: scoring.LazyCompatibility, bonus: F32, min_score: float | None):
        self.base, self.bonus, self.min_score = base, bonus, min_score
        self.shape, self.dtype = base.shape, base.dtype

    def rows(self, start: int, stop: int) -> F32:
        return _boosted_scores(self.base.rows(start, stop), self.bonus[start:stop])

    def allowed_rows(self, start: int, stop: int) -> BoolArray:
        allowed = self.base.allowed_rows(start, stop)
        bonus = self.bonus[start:stop]
        if self.min_score is None or not (bonus > 0).any():
            return allowed  # no true scores needed: skip scoring the block twice
        return _boosted_allowed(allowed, self.base.rows(start, stop), bonus, self.min_score)


def solver_view(
    compat: Compat, bonus: F32, min_score: float | None
) -> tuple[Scores, BoolArray | None]:
    """What the matcher is given: the scores with the bonus, and the mask (None when
    the scores are lazy and carry their own ``allowed_rows``)."""
    boosted = bool(bonus.any())
    if isinstance(compat, scoring.LazyCompatibility):
        return (_Boosted(compat, bonus, min_score) if boosted else compat), None
    if not boosted:
        return compat.scores, compat.allowed
    allowed = _boosted_allowed(compat.allowed, compat.scores, bonus, min_score)
    return _boosted_scores(compat.scores, bonus), allowed


def true_reasons(
    compat: Compat,
    unmatched: IntArray,
    reasons: Sequence[str],
    bonus: F32,
    min_score: float | None,
) -> list[str]:
    """The matcher's reasons, except that a boosted row which lost its sub-threshold
    pairs to the mask is ``below_min_score``, as it would have been without the bonus."""
    out = [str(r) for r in reasons]
    lost_at = np.flatnonzero(bonus[unmatched] > 0)
    if min_score is None or not len(lost_at):
        return out
    rows = unmatched[lost_at]
    if isinstance(compat, scoring.Compatibility):
        feasible = np.asarray(compat.allowed[rows].any(axis=1))
    else:  # one row block per unmatched boosted mentee: rows, never pairs, in Python
        feasible = np.array([compat.allowed_rows(int(i), int(i) + 1).any() for i in rows])
    for k in lost_at[feasible]:
        if out[k] == "no_allowed_mentor":
            out[k] = "below_min_score"
    return out

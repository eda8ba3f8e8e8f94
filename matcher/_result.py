"""The :class:`Assignment` returned by :func:`matcher.assign`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["REASONS", "Assignment"]

#: Why a mentee stays unmatched, in the order they are checked.
REASONS = ("no_allowed_mentor", "below_min_score", "capacity_exhausted")


@dataclass(frozen=True, eq=False)
class Assignment:
    """Chosen mentor-mentee pairs and how good they provably are.

    Attributes
    ----------
    mentee, mentor : ndarray of int64, shape (n_pairs,)
        The chosen pairs, sorted by mentee index (each mentee at most once).
    score : ndarray of float64, shape (n_pairs,)
        The score of each chosen pair.
    total : float
        Sum of ``score``.
    unmatched : ndarray of int64, shape (n_unmatched,)
        Mentees without a mentor, ascending.
    reasons : tuple of str, length n_unmatched
        One of ``"no_allowed_mentor"``, ``"below_min_score"``,
        ``"capacity_exhausted"`` for each entry of ``unmatched``.
    objective : str
        The objective that was optimized.
    optimal : bool
        True when the result is certified optimal for its objective (up to a
        floating-point tolerance of about 1e-6 per pair).
    gap : float
        Proven upper bound on the relative optimality gap
        ``(bound - value) / bound`` of the objective's weights; 0.0 when certified.
    method : str
        ``"dense"``, ``"sparse"``, ``"components"``, ``"auction"`` (a
        ``tolerance`` was given), ``"deferred_acceptance"`` or ``"empty"``.
    pinned : ndarray of bool, shape (n_pairs,)
        True for the pairs that came from ``pins``.
    """

    mentee: NDArray[np.int64]
    mentor: NDArray[np.int64]
    score: NDArray[np.float64]
    total: float
    unmatched: NDArray[np.int64]
    reasons: tuple[str, ...]
    objective: str
    optimal: bool
    gap: float
    method: str
    pinned: NDArray[np.bool_]

    @property
    def n_matched(self) -> int:
        """Number of matched mentees."""
        return int(self.mentee.size)

    def min_score(self) -> float:
        """Lowest matched score (``nan`` when nothing is matched)."""
        return float(self.score.min()) if self.score.size else float("nan")

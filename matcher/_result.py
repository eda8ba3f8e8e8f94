"""The :class:`Assignment` returned by :func:`matcher.assign`, and :class:`Solved`,
what every solver behind it returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["REASONS", "Assignment", "Solved", "SpreadReport", "unmatched_reasons"]

#: Why a mentee stays unmatched, in the order they are checked.
REASONS = ("no_allowed_mentor", "below_min_score", "capacity_exhausted")


@dataclass(frozen=True)
class SpreadReport:
    """What the ``spread`` option cost, for a run's stats.

    Attributes
    ----------
    mentors_used, mentors_used_without : int
        Mentors with at least one mentee, with and without spread.
    mentees_served, mentees_served_without : int
        Mentees with at least one mentor, with and without spread.
    total_without : float
        The objective's total score without spread (same objective, pins, mask).
    total_given_up : float
        ``total_without - total``: score traded for the spread (>= 0 up to rounding).
    """

    mentors_used: int
    mentors_used_without: int
    mentees_served: int
    mentees_served_without: int
    total_without: float
    total_given_up: float


@dataclass(frozen=True, eq=False)
class Assignment:
    """Chosen mentor-mentee pairs and how good they provably are.

    Attributes
    ----------
    mentee, mentor : ndarray of int64, shape (n_pairs,)
        The chosen pairs, sorted by mentee then mentor. A mentee appears at most
        ``mentee_capacity`` times (once by default), a pair at most once.
    score : ndarray of float64, shape (n_pairs,)
        The score of each chosen pair.
    total : float
        Sum of ``score``.
    unmatched : ndarray of int64, shape (n_unmatched,)
        Mentees without any mentor, ascending.
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
        ``tolerance`` was given), ``"deferred_acceptance"``, ``"min_cost_flow"``
        (the b-matching of ``mentee_capacity`` or ``spread``) or ``"empty"``.
    pinned : ndarray of bool, shape (n_pairs,)
        True for the pairs that came from ``pins``.
    filled : ndarray of int64, shape (n_mentees,), optional
        Mentors each mentee got, pins included (set when ``mentee_capacity`` or
        ``spread`` is given; otherwise None, every mentee having 0 or 1).
    spread : SpreadReport, optional
        The trade-off of the ``spread`` option (None without it).
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
    filled: NDArray[np.int64] | None = None
    spread: SpreadReport | None = None

    @property
    def n_matched(self) -> int:
        """Number of matched pairs (matched mentees when each has one place)."""
        return int(self.mentee.size)

    def min_score(self) -> float:
        """Lowest matched score (``nan`` when nothing is matched)."""
        return float(self.score.min()) if self.score.size else float("nan")


@dataclass(frozen=True)
class Solved:
    """A solver's matching of the free mentees, before pins and reasons are added.

    Every path (dense, components, sparse, auction, deferred acceptance) returns
    one; a caller that changes a field derives a copy with ``dataclasses.replace``.

    Attributes
    ----------
    rows, cols : ndarray of int64, shape (n_pairs,)
        The matched (mentee, mentor) pairs, sorted by mentee.
    scores : ndarray of float64, shape (n_pairs,)
        Their scores (without any coverage offset).
    optimal : bool
        True when certified optimal.
    gap : float
        Proven bound on the relative gap; 0.0 when certified.
    method : str
        The path that solved it, as in :attr:`Assignment.method`.
    any_allowed, any_usable : ndarray of bool, shape (n_mentees,)
        Whether each mentee has an allowed pair, and one at or above
        ``min_score`` (whatever the capacities and pins): the unmatched reasons.
    rounds : int
        Solves of a candidate graph (sparse and auction paths); 0 elsewhere.
    """

    rows: NDArray[np.int64]
    cols: NDArray[np.int64]
    scores: NDArray[np.float64]
    optimal: bool
    gap: float
    method: str
    any_allowed: NDArray[np.bool_]
    any_usable: NDArray[np.bool_]
    rounds: int = 0


def unmatched_reasons(
    unmatched: NDArray[np.int64], any_allowed: NDArray[np.bool_], any_usable: NDArray[np.bool_]
) -> tuple[str, ...]:
    """One of :data:`REASONS` per unmatched mentee, checked in that order.

    ``any_allowed[i]``: mentee ``i`` has an allowed mentor; ``any_usable[i]``: one at or
    above ``min_score`` too. Neither false means every usable mentor was full.
    """
    labels = np.where(
        ~any_allowed[unmatched],
        REASONS[0],
        np.where(~any_usable[unmatched], REASONS[1], REASONS[2]),
    )
    return tuple(str(x) for x in labels.tolist())

"""Exceptions raised by :func:`matcher.assign` and :func:`matcher.blocking_pairs`."""

from __future__ import annotations

__all__ = [
    "InvalidCapacityError",
    "InvalidMaskError",
    "InvalidPinError",
    "InvalidScoresError",
    "InvalidToleranceError",
    "MatcherError",
    "UnknownObjectiveError",
]


class MatcherError(ValueError):
    """Base class of every error the matcher raises on bad input."""


class InvalidScoresError(MatcherError):
    """The score matrix is not a finite 2-D float matrix (or lazy matrix)."""


class InvalidMaskError(MatcherError):
    """The ``allowed`` mask does not match the scores, or is not boolean."""


class InvalidCapacityError(MatcherError):
    """A capacity is negative, not an integer, or of the wrong shape."""


class InvalidPinError(MatcherError):
    """A pin is out of range, not allowed, over capacity, or repeats a mentee.

    Besides the message, ``problem`` says which (``"shape"``, ``"out_of_range"``,
    ``"duplicate_mentee"``, ``"not_allowed"``, ``"over_capacity"``) and ``mentee`` /
    ``mentor`` hold the indices involved (None where not applicable), so that a caller
    can name the people in its own terms.
    """

    def __init__(
        self,
        message: str,
        *,
        problem: str,
        mentee: int | None = None,
        mentor: int | None = None,
    ) -> None:
        super().__init__(message)
        self.problem = problem
        self.mentee = mentee
        self.mentor = mentor


class InvalidToleranceError(MatcherError):
    """``tolerance`` is not a number in [0, 0.5), or comes with an objective other than total."""


class UnknownObjectiveError(MatcherError):
    """The objective is not one of ``total``, ``coverage``, ``fair``, ``stable``."""

"""Optimal mentor-mentee assignment: pure NumPy/SciPy.

Rows are mentees, columns are mentors, everywhere. See :func:`assign`.
"""

from matcher._assign import assign
from matcher._baselines import Baseline, greedy_matching, random_matching
from matcher._errors import (
    InvalidCapacityError,
    InvalidMaskError,
    InvalidPinError,
    InvalidScoresError,
    InvalidToleranceError,
    MatcherError,
    UnknownObjectiveError,
)
from matcher._hungarian import preload
from matcher._input import OBJECTIVES, LazyScores
from matcher._result import REASONS, Assignment, SpreadReport
from matcher._stable import blocking_pairs, find_blocking_pairs

__all__ = [
    "OBJECTIVES",
    "REASONS",
    "Assignment",
    "Baseline",
    "InvalidCapacityError",
    "InvalidMaskError",
    "InvalidPinError",
    "InvalidScoresError",
    "InvalidToleranceError",
    "LazyScores",
    "MatcherError",
    "SpreadReport",
    "UnknownObjectiveError",
    "assign",
    "blocking_pairs",
    "find_blocking_pairs",
    "greedy_matching",
    "preload",
    "random_matching",
]

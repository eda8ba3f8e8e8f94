"""Validation at the boundary, and one row-block view over dense or lazy scores.

Every check names the bad value and what was expected; past this module the
solvers trust their inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from matcher._errors import (
    InvalidCapacityError,
    InvalidMaskError,
    InvalidPinError,
    InvalidScoresError,
    UnknownObjectiveError,
)

__all__ = ["OBJECTIVES", "LazyScores", "Problem", "Source", "validate"]

OBJECTIVES = ("total", "coverage", "fair", "stable")

FloatArray = NDArray[np.floating[Any]]
BoolArray = NDArray[np.bool_]


@runtime_checkable
class LazyScores(Protocol):
    """A score matrix computed on demand, one block of mentee rows at a time."""

    @property
    def shape(self) -> tuple[int, int]: ...

    @property
    def dtype(self) -> Any: ...

    def rows(self, start: int, stop: int) -> Any: ...

    def allowed_rows(self, start: int, stop: int) -> Any: ...


class Source:
    """Row blocks ``(scores, allowed)`` of a dense or lazy matrix.

    ``dense`` holds the whole matrices when they are in memory, so that small
    solvers can index them directly.
    """

    def __init__(
        self,
        n_mentees: int,
        n_mentors: int,
        *,
        scores: FloatArray | None = None,
        allowed: BoolArray | None = None,
        lazy: LazyScores | None = None,
    ) -> None:
        self.n_mentees = n_mentees
        self.n_mentors = n_mentors
        self._scores = scores
        self._allowed = allowed
        self._lazy = lazy

    @property
    def scores_array(self) -> FloatArray:
        assert self._scores is not None
        return self._scores

    @property
    def is_dense(self) -> bool:
        return self._scores is not None

    def dense(self) -> tuple[FloatArray, BoolArray]:
        """Whole matrices (materializing a lazy source: only for small ones)."""
        if self._scores is not None and self._allowed is not None:
            return self._scores, self._allowed
        return self.block(0, self.n_mentees)

    def block(self, start: int, stop: int) -> tuple[FloatArray, BoolArray]:
        """Scores and mask of mentee rows ``start:stop``, shape (stop - start, n_mentors)."""
        if self._scores is not None and self._allowed is not None:
            return self._scores[start:stop], self._allowed[start:stop]
        assert self._lazy is not None
        s = np.asarray(self._lazy.rows(start, stop))
        a = np.asarray(self._lazy.allowed_rows(start, stop))
        want = (stop - start, self.n_mentors)
        if s.shape != want or not np.issubdtype(s.dtype, np.floating):
            raise InvalidScoresError(
                f"lazy scores.rows({start}, {stop}) returned a {s.dtype} block of shape "
                f"{s.shape}, expected a float block of shape {want}"
            )
        if a.shape != want or a.dtype != np.bool_:
            raise InvalidMaskError(
                f"lazy scores.allowed_rows({start}, {stop}) returned a {a.dtype} block of "
                f"shape {a.shape}, expected a bool block of shape {want}"
            )
        # A row sum is non-finite whenever the row holds NaN or inf; one fast pass.
        if not np.isfinite(s.sum(axis=1)).all() and not np.isfinite(s).all():
            bad = np.argwhere(~np.isfinite(s))[0]
            raise InvalidScoresError(
                f"scores must be finite, got {s[bad[0], bad[1]]} at "
                f"(mentee {start + int(bad[0])}, mentor {int(bad[1])})"
            )
        return s, a

    def pair_values(
        self, mentee: NDArray[np.int64], mentor: NDArray[np.int64]
    ) -> tuple[NDArray[np.float64], BoolArray]:
        """Scores and allowed flags of the given pairs."""
        if self._scores is not None and self._allowed is not None:
            return (
                self._scores[mentee, mentor].astype(np.float64),
                self._allowed[mentee, mentor],
            )
        out_s = np.empty(mentee.size, dtype=np.float64)
        out_a = np.empty(mentee.size, dtype=np.bool_)
        for k, (i, j) in enumerate(zip(mentee.tolist(), mentor.tolist(), strict=True)):
            s, a = self.block(i, i + 1)
            out_s[k] = s[0, j]
            out_a[k] = a[0, j]
        return out_s, out_a


@dataclass(frozen=True)
class Problem:
    """A validated matching problem."""

    source: Source
    capacity: NDArray[np.int64]
    min_score: float | None
    pin_mentee: NDArray[np.int64]
    pin_mentor: NDArray[np.int64]
    objective: str
    #: Places per mentee, shape (n_mentees,); all 1 unless ``mentee_capacity`` says otherwise.
    mentee_capacity: NDArray[np.int64] | None = None
    #: Bonus scale of the spread option (0: off).
    spread: float = 0.0

    @property
    def many(self) -> bool:
        """Whether the b-matching path applies (a mentee with several places, or spread)."""
        mc = self.mentee_capacity
        return self.spread > 0 or (mc is not None and bool((mc != 1).any()))


def _check_scores(scores: Any) -> tuple[Source, bool]:
    if isinstance(scores, LazyScores) and not isinstance(scores, np.ndarray):
        shape = tuple(int(x) for x in scores.shape)
        if len(shape) != 2:
            raise InvalidScoresError(f"expected a 2-D matrix, got shape {shape}")
        return Source(shape[0], shape[1], lazy=scores), True
    try:
        arr = np.asarray(scores)
    except (TypeError, ValueError) as exc:
        raise InvalidScoresError(
            f"expected a 2-D float matrix, got {type(scores).__name__}"
        ) from exc
    if arr.ndim != 2:
        raise InvalidScoresError(f"expected a 2-D matrix, got shape {arr.shape}")
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise InvalidScoresError(f"expected a float matrix, got dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InvalidScoresError(
            f"scores must be finite, got {arr[bad[0], bad[1]]} at "
            f"(mentee {int(bad[0])}, mentor {int(bad[1])})"
        )
    return Source(arr.shape[0], arr.shape[1], scores=arr), False


def _check_allowed(allowed: Any, shape: tuple[int, int]) -> BoolArray:
    if allowed is None:
        return np.ones(shape, dtype=np.bool_)
    mask = np.asarray(allowed)
    if mask.dtype != np.bool_:
        raise InvalidMaskError(f"expected a boolean allowed mask, got dtype {mask.dtype}")
    if mask.shape != shape:
        raise InvalidMaskError(
            f"expected an allowed mask of shape {shape} like the scores, got shape {mask.shape}"
        )
    return mask


def check_capacity(
    capacity: Any, n_mentors: int, *, name: str = "capacity", who: str = "mentor"
) -> NDArray[np.int64]:
    """Validate ``capacity`` into an int64 array of shape (n_mentors,).

    ``name`` and ``who`` word the messages (``mentee_capacity`` / ``mentee``).
    """
    if capacity is None:
        return np.ones(n_mentors, dtype=np.int64)
    cap = np.asarray(capacity)
    if cap.dtype == np.bool_ or not (
        np.issubdtype(cap.dtype, np.integer)
        or (
            np.issubdtype(cap.dtype, np.floating)
            and np.isfinite(cap).all()
            and np.all(np.mod(cap, 1) == 0)
        )
    ):
        what = "capacities" if name == "capacity" else f"{name} values"
        raise InvalidCapacityError(f"expected integer {what}, got {capacity!r}")
    if cap.ndim == 0:
        cap = np.full(n_mentors, int(cap), dtype=np.int64)
    if cap.shape != (n_mentors,):
        raise InvalidCapacityError(
            f"expected an int or an array of shape ({n_mentors},) for {name}, got shape {cap.shape}"
        )
    cap = cap.astype(np.int64)
    if cap.size and cap.min() < 0:
        j = int(np.argmin(cap))
        raise InvalidCapacityError(f"{name} must be >= 0, got {int(cap[j])} for {who} {j}")
    return cap


def _check_spread(spread: Any) -> float:
    if isinstance(spread, bool) or not isinstance(spread, (int, float, np.integer, np.floating)):
        raise InvalidScoresError(
            f"spread: expected a finite number >= 0, got {type(spread).__name__}"
        )
    value = float(spread)
    if not (np.isfinite(value) and value >= 0):
        raise InvalidScoresError(f"spread: expected a finite number >= 0, got {value!r}")
    return value


def _check_pins(
    pins: Sequence[tuple[int, int]] | Any,
    source: Source,
    capacity: NDArray[np.int64],
    mentee_capacity: NDArray[np.int64] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    empty = np.zeros(0, dtype=np.int64)
    if pins is None:
        return empty, empty
    arr = np.asarray(pins)
    if arr.size == 0:
        return empty, empty
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidPinError(
            f"expected pins as integer (mentee, mentor) pairs, got an array of shape "
            f"{arr.shape} and dtype {arr.dtype}",
            problem="shape",
        )
    pm, pj = arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64)
    for k in range(pm.size):
        if not (0 <= pm[k] < source.n_mentees and 0 <= pj[k] < source.n_mentors):
            raise InvalidPinError(
                f"pin ({int(pm[k])}, {int(pj[k])}) is out of range, expected mentee in "
                f"[0, {source.n_mentees}) and mentor in [0, {source.n_mentors})",
                problem="out_of_range",
                mentee=int(pm[k]),
                mentor=int(pj[k]),
            )
    uniq, counts = np.unique(pm, return_counts=True)
    if mentee_capacity is not None:
        _check_many_pins(pm, pj, uniq, counts, source.n_mentors, mentee_capacity)
    elif (counts > 1).any():
        twice = int(uniq[counts > 1][0])
        raise InvalidPinError(
            f"mentee {twice} is pinned more than once, expected at most one pin per mentee",
            problem="duplicate_mentee",
            mentee=twice,
        )
    _, allowed = source.pair_values(pm, pj)
    if not allowed.all():
        k = int(np.argmin(allowed))
        raise InvalidPinError(
            f"pin ({int(pm[k])}, {int(pj[k])}) is not allowed by the mask, "
            "expected an allowed pair",
            problem="not_allowed",
            mentee=int(pm[k]),
            mentor=int(pj[k]),
        )
    load = np.bincount(pj, minlength=source.n_mentors)
    over = np.flatnonzero(load > capacity)
    if over.size:
        j = int(over[0])
        raise InvalidPinError(
            f"mentor {j} has {int(load[j])} pins but capacity {int(capacity[j])}, expected "
            "at most as many pins as its capacity",
            problem="over_capacity",
            mentor=j,
        )
    order = np.lexsort((pj, pm))
    return pm[order], pj[order]


def _check_many_pins(
    pm: NDArray[np.int64],
    pj: NDArray[np.int64],
    uniq: NDArray[np.int64],
    counts: NDArray[np.int64],
    n_mentors: int,
    mentee_capacity: NDArray[np.int64],
) -> None:
    """With mentee capacities: a pair pinned once, a mentee pinned up to its places."""
    code, code_counts = np.unique(pm * max(n_mentors, 1) + pj, return_counts=True)
    if (code_counts > 1).any():
        i, j = divmod(int(code[code_counts > 1][0]), max(n_mentors, 1))
        raise InvalidPinError(
            f"pin ({i}, {j}) is given more than once, expected each pair at most once",
            problem="duplicate_pair",
            mentee=i,
            mentor=j,
        )
    over = counts > mentee_capacity[uniq]
    if over.any():
        i = int(uniq[over][0])
        raise InvalidPinError(
            f"mentee {i} has {int(counts[over][0])} pins but mentee_capacity "
            f"{int(mentee_capacity[i])}, expected at most as many pins as its places",
            problem="over_capacity",
            mentee=i,
        )


def validate(
    scores: Any,
    *,
    capacity: Any,
    allowed: Any,
    min_score: float | None,
    pins: Any,
    objective: str,
    mentee_capacity: Any = None,
    spread: Any = 0.0,
) -> Problem:
    """Check every argument of :func:`matcher.assign` and build a :class:`Problem`."""
    if objective not in OBJECTIVES:
        raise UnknownObjectiveError(
            f"unknown objective {objective!r}, expected one of {', '.join(OBJECTIVES)}"
        )
    source, lazy = _check_scores(scores)
    if lazy:
        if allowed is not None:
            raise InvalidMaskError(
                "a lazy score matrix brings its own mask (allowed_rows), expected allowed=None"
            )
    else:
        s = source.scores_array
        source = Source(
            source.n_mentees,
            source.n_mentors,
            scores=s,
            allowed=_check_allowed(allowed, (source.n_mentees, source.n_mentors)),
        )
    if min_score is not None:
        try:
            ms = float(min_score)
        except (TypeError, ValueError) as exc:
            raise InvalidScoresError(f"expected a number for min_score, got {min_score!r}") from exc
        if not np.isfinite(ms):
            raise InvalidScoresError(f"expected a finite min_score, got {min_score!r}")
        min_score = ms
    cap = check_capacity(capacity, source.n_mentors)
    mcap = None
    if mentee_capacity is not None:
        mcap = check_capacity(
            mentee_capacity, source.n_mentees, name="mentee_capacity", who="mentee"
        )
    spread_value = _check_spread(spread)
    pm, pj = _check_pins(
        pins, source, cap, mcap if mcap is not None and (mcap != 1).any() else None
    )
    return Problem(source, cap, min_score, pm, pj, objective, mcap, spread_value)


def above_mask(s: NDArray[Any], allowed: BoolArray, lo: float) -> BoolArray:
    """Allowed pairs scoring at least ``lo`` (all allowed ones when ``lo`` is -inf)."""
    if lo == -np.inf:
        return allowed
    return np.asarray(allowed & (s >= lo), dtype=np.bool_)

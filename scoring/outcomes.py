"""Outcome records of matches, checked and turned into columns.

An outcome record carries counts and ratings only, never content:
:data:`COUNT_FIELDS` (whole or fractional counts >= 0), :data:`RATING_FIELDS`
(1 to 5), ``ended_early`` (true/false) and ``ended_reason`` (a string). Any
may be missing or ``None``. :func:`outcome_columns` takes a batch as columns
or as one dict per outcome and checks it at the boundary; keys that are not
outcome fields (ids, timestamps) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scoring.errors import OutcomeError
from scoring.limits import finite_number
from scoring.validation import fmt

__all__ = [
    "COUNT_FIELDS",
    "OUTCOME_FIELDS",
    "RATING_FIELDS",
    "Outcomes",
    "norm_reason",
    "outcome_columns",
]

F64 = npt.NDArray[np.float64]

COUNT_FIELDS = ("meetings", "messages", "goals_completed", "goals_total", "milestones")
RATING_FIELDS = ("mentor_rating", "mentee_rating")
OUTCOME_FIELDS = (*COUNT_FIELDS, *RATING_FIELDS, "ended_early", "ended_reason")


def norm_reason(reason: str) -> str:
    """An end reason's comparable spelling: lower case, ``_`` for spaces and hyphens.

    Examples
    --------
    >>> norm_reason(" Mentee withdrew"), norm_reason("no-show")
    ('mentee_withdrew', 'no_show')
    """
    return "_".join(reason.replace("-", " ").split()).casefold()


@dataclass(frozen=True)
class Outcomes:
    """A checked batch of ``n`` outcome records, as columns.

    Attributes
    ----------
    numbers : dict of str to ndarray of float64, shape (n,)
        Every count and rating field, ``NaN`` where missing.
    ended_early : ndarray of bool, shape (n,)
        False where missing.
    ended_reason : list of str or None
        Normalized with :func:`norm_reason`.
    """

    numbers: dict[str, F64]
    ended_early: npt.NDArray[np.bool_]
    ended_reason: list[str | None]


def _column(values: object, n: int, field: str) -> F64:
    """A numeric outcome column as floats, NaN where missing."""
    if values is None:
        return np.full(n, np.nan)
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        col = values.astype(np.float64).reshape(-1)
    else:
        items = np.asarray(values, dtype=object).reshape(-1)
        col = np.full(items.shape, np.nan)
        for i, v in enumerate(items):  # one per outcome, never per pair
            if v is None:
                continue
            number = finite_number(v)
            if number is None and not (isinstance(v, float | np.floating) and np.isnan(v)):
                raise OutcomeError(i, field, f"expected a finite number or null, got {fmt(v)}")
            col[i] = np.nan if number is None else number
    if col.shape != (n,):
        raise OutcomeError(0, field, f"expected {n} values (one per outcome), got {col.size}")
    if np.isinf(col).any():
        i = int(np.flatnonzero(np.isinf(col))[0])
        raise OutcomeError(i, field, f"expected a finite number or null, got {col[i]}")
    return col


def _columns(outcomes: object) -> tuple[int, dict[str, Any]]:
    if isinstance(outcomes, Mapping):
        given = {k: v for k, v in outcomes.items() if k in OUTCOME_FIELDS}
        lengths = {k: len(np.atleast_1d(np.asarray(v, dtype=object))) for k, v in given.items()}
        if not lengths:
            raise OutcomeError(
                0, "", f"expected outcome columns among: {', '.join(OUTCOME_FIELDS)}, got none"
            )
        n = max(lengths.values())
        for k, length in lengths.items():
            if length != n:
                raise OutcomeError(0, k, f"expected {n} values (one per outcome), got {length}")
        return n, given
    if isinstance(outcomes, Sequence) and not isinstance(outcomes, str):
        for i, rec in enumerate(outcomes):
            if not isinstance(rec, Mapping):
                raise OutcomeError(i, "", f"expected an outcome object, got {fmt(rec)}")
        cols = {f: [rec.get(f) for rec in outcomes] for f in OUTCOME_FIELDS}
        return len(outcomes), cols
    raise OutcomeError(
        0, "", f"expected a mapping of columns or a list of outcome objects, got {fmt(outcomes)}"
    )


def _flags(values: object, n: int) -> npt.NDArray[np.bool_]:
    out = np.zeros(n, dtype=bool)
    if values is None:
        return out
    arr = np.asarray(values, dtype=object).reshape(-1)
    for i, v in enumerate(arr):  # one per outcome, never per pair
        if v is None:
            continue
        if not isinstance(v, bool | np.bool_):
            raise OutcomeError(i, "ended_early", f"expected true, false or null, got {fmt(v)}")
        out[i] = bool(v)
    return out


def _reasons(values: object, n: int) -> list[str | None]:
    if values is None:
        return [None] * n
    arr = np.asarray(values, dtype=object).reshape(-1)
    out: list[str | None] = []
    for i, v in enumerate(arr):
        if v is not None and not isinstance(v, str):
            raise OutcomeError(i, "ended_reason", f"expected a string or null, got {fmt(v)}")
        out.append(None if v is None else norm_reason(v))
    return out


def outcome_columns(outcomes: object) -> Outcomes:
    """Check a batch of outcome records and return it as columns.

    Parameters
    ----------
    outcomes : mapping of str to array_like, or list of dict
        Columns of length ``n_outcomes`` keyed by outcome field, or one dict
        per outcome.

    Returns
    -------
    Outcomes

    Raises
    ------
    OutcomeError
        Naming the first bad outcome and field: a negative count, a rating
        outside 1-5, more goals completed than set, a value of the wrong
        type, or columns of different lengths.

    Examples
    --------
    >>> rec = outcome_columns([{"meetings": 2, "ended_reason": "No show"}, {"mentor_rating": 4}])
    >>> rec.numbers["meetings"], rec.ended_reason
    (array([ 2., nan]), ['no_show', None])
    >>> outcome_columns([{"mentee_rating": 9}])
    Traceback (most recent call last):
    ...
    scoring.errors.OutcomeError: outcomes[0]: mentee_rating: expected a rating from 1 to 5, got 9
    """
    n, cols = _columns(outcomes)
    num = {f: _column(cols.get(f), n, f) for f in (*COUNT_FIELDS, *RATING_FIELDS)}
    for f in COUNT_FIELDS:
        if (bad := np.flatnonzero(num[f] < 0)).size:
            i = int(bad[0])
            raise OutcomeError(i, f, f"expected a count >= 0, got {num[f][i]:g}")
    for f in RATING_FIELDS:
        if (bad := np.flatnonzero((num[f] < 1) | (num[f] > 5))).size:
            i = int(bad[0])
            raise OutcomeError(i, f, f"expected a rating from 1 to 5, got {num[f][i]:g}")
    done, total = num["goals_completed"], num["goals_total"]
    if (bad := np.flatnonzero(done > total)).size:
        i = int(bad[0])
        raise OutcomeError(
            i, "goals_completed", f"expected at most goals_total ({total[i]:g}), got {done[i]:g}"
        )
    return Outcomes(
        numbers=num,
        ended_early=_flags(cols.get("ended_early"), n),
        ended_reason=_reasons(cols.get("ended_reason"), n),
    )

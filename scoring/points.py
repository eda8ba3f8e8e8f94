"""Point tables: an explicit similarity per whole-number gap.

``seniority_gap`` and ``proximity`` may give ``"params": {"points": {"1": 0.75,
"2": 1.0}}`` instead of their shape parameters: a pair whose gap is a key of the
table scores its value, any other gap (or a missing value) scores 0. A rule such
as "+9 points at one grade, +12 at two, never outside 1-2" is then one criterion
(``{"1": 0.75, "2": 1.0}``, weighted 12).

Decisions worth knowing:

* Keys are whole numbers written as JSON object keys (``"2"``, ``"-1"``; a
  leading ``+`` or zeros are read as the same number, and two keys naming one
  gap are refused). Python callers may use ints.
* ``seniority_gap``: the gap is ``level_mentor - level_mentee`` and may be
  negative (``"-1"``: a mentor one level below) or 0 (peers); keys range over
  ``-MAX_LEVEL..MAX_LEVEL``.
* ``proximity``: the gap is the absolute difference ``|x_mentee - x_mentor|``
  of the two numbers, computed in float64, so keys are from 0 to
  ``MAX_ABS_NUMBER``; a gap that is not a whole number (``2.5``) matches no key
  and scores 0. Whole-number values (years, grades, UTC hours) compare exactly.
* Values are finite numbers in [0, 1]; at most :data:`MAX_POINTS` entries, at
  least one. ``points`` and the shape parameters are mutually exclusive.

Scoring is a lookup: :class:`PointTable` keeps the keys sorted and finds every
gap of a matrix with one ``np.searchsorted``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scoring.limits import MAX_ABS_NUMBER, MAX_LEVEL, finite_number
from scoring.validation import Errors, fmt

__all__ = ["MAX_POINTS", "POINT_KINDS", "PointTable", "check_point_params", "check_points"]

#: Entries of one point table (a table is read by people, like the rest of a config).
MAX_POINTS = 100
#: Criterion kinds that take a point table, with the largest gap magnitude of a key.
POINT_KINDS: dict[str, float] = {"seniority_gap": MAX_LEVEL, "proximity": MAX_ABS_NUMBER}
_KEY = re.compile(r"[+-]?[0-9]{1,13}", re.ASCII)

F64 = npt.NDArray[np.float64]


def _gap(key: object) -> int | None:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and _KEY.fullmatch(key.strip()):
        return int(key.strip())
    return None


def check_points(err: Errors, path: str, kind: str, raw: object) -> dict[str, float] | None:
    """Validate the point table of a criterion of ``kind``; errors go to ``err`` under ``path``.

    Returns the table with canonical keys (``str(int)``) in increasing gap order,
    or ``None`` when it is invalid.

    Examples
    --------
    >>> err = Errors()
    >>> check_points(err, "p", "seniority_gap", {"2": 1, "+1": 0.75})
    {'1': 0.75, '2': 1.0}
    >>> check_points(err, "p", "proximity", {"-1": 0.5, "x": 2})
    >>> err.errors["p.-1"]
    ["expected a whole-number gap from 0 to 1e+12 (the absolute difference), got '-1'"]
    """
    if not isinstance(raw, dict) or not raw:
        err.add(path, f"expected an object of gap -> similarity in [0, 1], got {fmt(raw)}")
        return None
    if len(raw) > MAX_POINTS:
        err.add(path, f"at most {MAX_POINTS} gaps, got {len(raw)}")
        return None
    bound = POINT_KINDS[kind]
    low = 0 if kind == "proximity" else -bound
    what = " (the absolute difference)" if kind == "proximity" else ""
    table: dict[int, float] = {}
    seen: dict[int, object] = {}
    ok = True
    for key, value in raw.items():
        where = f"{path}.{key}"
        gap = _gap(key)
        if gap is None or not low <= gap <= bound:
            err.add(
                where,
                f"expected a whole-number gap from {low:g} to {bound:g}{what}, got {fmt(key)}",
            )
            ok = False
        elif gap in seen:
            err.add(where, f"gap {gap} is given twice (also as {fmt(seen[gap])})")
            ok = False
        else:
            seen[gap] = key
        number = finite_number(value)
        if number is None or not 0 <= number <= 1:
            err.add(where, f"expected a similarity from 0 to 1, got {fmt(value)}")
            ok = False
        elif gap is not None:
            table[gap] = number
    if not ok:
        return None
    return {str(g): table[g] for g in sorted(table)}


def check_point_params(
    err: Errors, path: str, kind: str, raw: Mapping[str, object], *, shape: tuple[str, ...]
) -> dict[str, Any] | None:
    """Validate ``params`` that hold ``points``: the table alone, no ``shape`` params.

    Returns ``{"points": table}`` (see :func:`check_points`) or ``None``.
    """
    for key in raw:
        if key != "points":
            err.add(
                f"{path}.{key}",
                f"'points' replaces the shape params ({', '.join(shape)}); give one or the other",
            )
    points = check_points(err, f"{path}.points", kind, raw["points"])
    return {"points": points} if points is not None and len(raw) == 1 else None


@dataclass(frozen=True, eq=False)
class PointTable:
    """A validated point table as sorted arrays, for lookups over whole matrices.

    Examples
    --------
    >>> t = PointTable.from_params({"1": 0.75, "2": 1.0})
    >>> t(np.array([[0.0, 1.0], [2.0, np.nan]])).tolist()
    [[0.0, 0.75], [1.0, 0.0]]
    """

    gaps: F64
    values: F64

    @classmethod
    def from_params(cls, points: Mapping[str, float]) -> PointTable:
        """From a table :func:`check_points` returned (keys in increasing gap order)."""
        gaps = np.array([float(k) for k in points], dtype=np.float64)
        order = np.argsort(gaps, kind="stable")
        values = np.array(list(points.values()), dtype=np.float64)
        return cls(gaps[order], values[order])

    def __call__(self, gap: npt.NDArray[np.floating]) -> F64:
        """The similarity of each gap (any shape); NaN and unlisted gaps score 0."""
        gap = np.asarray(gap, dtype=np.float64)
        pos = np.searchsorted(self.gaps, gap)  # NaN sorts last: never a hit
        np.minimum(pos, len(self.gaps) - 1, out=pos)
        hit = self.gaps[pos] == gap
        out: F64 = np.where(hit, self.values[pos], 0.0)
        return out

    def has(self, gap: float) -> bool:
        """Whether ``gap`` is a key of the table."""
        return bool(np.any(self.gaps == gap))

"""Single-value criteria: ``same``, ``different``, ``seniority_gap``, ``proximity``."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from scoring.criteria.base import (
    F32,
    F64,
    I64,
    PROXIMITY_CAP,
    Bool,
    Criterion,
    Factors,
    fold_positive,
    fold_profiles,
    profiles_of_values,
)
from scoring.encode import Side, category_key
from scoring.points import PointTable

__all__ = ["Different", "Proximity", "Same", "SeniorityGap"]


def point_table(spec: Mapping[str, Any]) -> PointTable | None:
    """The criterion's point table (``params.points``), or None for the shape params."""
    points = (spec.get("params") or {}).get("points")
    return None if points is None else PointTable.from_params(points)


class _ValueCriterion(Criterion):
    """Criteria on one value per participant (categories, levels, numbers)."""

    va: npt.NDArray[Any]
    vb: npt.NDArray[Any]

    def _f(self, xa: npt.NDArray[Any], xb: npt.NDArray[Any]) -> F64 | Bool:
        raise NotImplementedError

    def sim(self, ia: I64, jb: I64) -> F32:
        return np.asarray(self._f(self.va[ia][:, None], self.vb[jb][None, :]), dtype=np.float32)

    def pair_sim(self, i: I64, j: I64) -> F64:
        return np.asarray(self._f(self.va[i], self.vb[j]), dtype=np.float64)

    @cached_property
    def _factors(self) -> Factors | None:
        return fold_profiles(self, profiles_of_values(self.va), profiles_of_values(self.vb))

    def factors(self) -> Factors | None:
        return self._factors

    def positive(self, start: int, stop: int, c0: int, c1: int) -> Bool:
        return fold_positive(self, start, stop, c0, c1)


def union_codes(
    codes_a: I64, labels_a: list[str], codes_b: I64, labels_b: list[str]
) -> tuple[I64, I64, list[str]]:
    """Both sides' category codes renumbered on the union of their labels (by
    :func:`~scoring.encode.category_key`), and the union's labels; -1 stays missing.

    A loop over the distinct values only; the codes are remapped by indexing.
    """
    index: dict[str, int] = {}
    labels: list[str] = []

    def remap(codes: I64, side_labels: list[str]) -> I64:
        table = np.full(len(side_labels) + 1, -1, dtype=np.int64)  # table[-1]: missing
        for k, label in enumerate(side_labels):
            key = category_key(label)
            if key not in index:
                index[key] = len(labels)
                labels.append(label)
            table[k] = index[key]
        out: I64 = table[codes]
        return out

    return remap(codes_a, labels_a), remap(codes_b, labels_b), labels


class CategoryCriterion(_ValueCriterion):
    def __init__(self, spec: Mapping[str, Any], a: Side, b: Side) -> None:
        super().__init__(spec, a, b)
        assert self.field is not None
        self.va, self.vb = a.categories[self.field], b.categories[self.field]
        la, lb = a.category_labels[self.field], b.category_labels[self.field]
        self.labels: list[str] = list(la)
        if la != lb:  # an open field: each side numbered its own values
            self.va, self.vb, self.labels = union_codes(self.va, la, self.vb, lb)


class Same(CategoryCriterion):
    kind = "same"

    def _f(self, xa: npt.NDArray[Any], xb: npt.NDArray[Any]) -> Bool:
        out: Bool = (xa == xb) & (xa >= 0)
        return out

    def reason(self, i: int, j: int) -> str | None:
        if self.va[i] < 0 or self.va[i] != self.vb[j]:
            return None
        return f"Same {self.field}: {self.labels[int(self.va[i])]}"


class Different(CategoryCriterion):
    kind = "different"

    def _f(self, xa: npt.NDArray[Any], xb: npt.NDArray[Any]) -> Bool:
        out: Bool = (xa != xb) & (xa >= 0) & (xb >= 0)
        return out

    def reason(self, i: int, j: int) -> str | None:
        ca, cb = int(self.va[i]), int(self.vb[j])
        if ca < 0 or cb < 0 or ca == cb:
            return None
        return f"Different {self.field}: mentee in {self.labels[ca]}, mentor in {self.labels[cb]}"


class SeniorityGap(_ValueCriterion):
    kind = "seniority_gap"

    def __init__(self, spec: Mapping[str, Any], a: Side, b: Side, levels: list[str]) -> None:
        super().__init__(spec, a, b)
        self.va, self.vb = a.level, b.level
        self.levels = levels
        self.points = point_table(spec)

    def _f(self, xa: npt.NDArray[Any], xb: npt.NDArray[Any]) -> F64:
        if self.points is not None:
            return self.points(xb - xa)
        lo, mid, hi = self.params["min_gap"], self.params["ideal_gap"], self.params["max_gap"]
        gap = np.nan_to_num(xb - xa, nan=-np.inf)
        up = 1.0 - 0.5 * (mid - gap) / (mid - lo) if mid > lo else np.ones_like(gap)
        down = 1.0 - 0.5 * (gap - mid) / (hi - mid) if hi > mid else np.ones_like(gap)
        with np.errstate(invalid="ignore"):
            val = np.where(gap <= mid, up, down)
        out: F64 = np.where((gap >= lo) & (gap <= hi), val, 0.0)
        return out

    def _name(self, level: float) -> str:
        k = int(level)
        return self.levels[k] if 0 <= k < len(self.levels) else f"level {k}"

    def reason(self, i: int, j: int) -> str | None:
        la, lb = self.va[i], self.vb[j]
        if np.isnan(la) or np.isnan(lb):
            return None
        gap = int(lb - la)
        if gap == 0:  # only a point table scores peers
            return f"Same level ({self._name(la)})"
        unit = "level" if abs(gap) == 1 else "levels"
        side = "senior" if gap > 0 else "junior"
        return f"Mentor is {abs(gap)} {unit} {side} ({self._name(la)} -> {self._name(lb)})"


class Proximity(_ValueCriterion):
    kind = "proximity"

    def __init__(self, spec: Mapping[str, Any], a: Side, b: Side) -> None:
        super().__init__(spec, a, b)
        assert self.field is not None
        self.va, self.vb = a.numbers[self.field], b.numbers[self.field]
        self.points = point_table(spec)
        if self.points is not None:
            return  # exact float64 differences (a lookup needs whole numbers exactly)
        # Centred and divided by the scale in float64, then cast: float32 differences of
        # the raw values would lose the units a small scale compares (float32 keeps 7
        # digits of 1e12), and numbers past its range would become inf (inf - inf is NaN).
        # Within the bounds of scoring.limits the scaled values stay finite in float32.
        both = np.concatenate([self.va, self.vb])
        known = both[~np.isnan(both)]
        center = float(np.median(known)) if known.size else 0.0
        scale = self.params["scale"]
        self._sa = ((self.va - center) / scale).astype(np.float32)
        self._sb = ((self.vb - center) / scale).astype(np.float32)

    def _f(self, xa: npt.NDArray[Any], xb: npt.NDArray[Any]) -> F64:
        if self.points is not None:
            return self.points(np.abs(xa - xb))
        d = np.minimum(np.abs(xa - xb) / self.params["scale"], PROXIMITY_CAP)
        out: F64 = np.nan_to_num(np.exp(-d), nan=0.0)
        return out

    def sim(self, ia: I64, jb: I64) -> F32:
        if self.points is not None:
            return super().sim(ia, jb)
        d = np.subtract(self._sa[ia][:, None], self._sb[jb][None, :])
        np.abs(d, out=d)
        np.minimum(d, np.float32(PROXIMITY_CAP), out=d)
        np.nan_to_num(d, copy=False, nan=np.inf)
        np.negative(d, out=d)
        return np.exp(d, out=d)

    def positive(self, start: int, stop: int, c0: int, c1: int) -> Bool:
        if self.factors() is not None or self.points is not None:
            return fold_positive(self, start, stop, c0, c1)
        # The cap keeps exp(-d) a positive float32: positive iff both values are present.
        out: Bool = ~np.isnan(self.va[start:stop])[:, None] & ~np.isnan(self.vb[c0:c1])[None, :]
        return out

    def reason(self, i: int, j: int) -> str | None:
        xa, xb = self.va[i], self.vb[j]
        if np.isnan(xa) or np.isnan(xb):
            return None
        d = abs(xa - xb)
        if self.points is None and d > self.params["scale"]:
            return None  # not close enough to call it evidence (a table's gaps are rules)
        if d == 0:
            return f"Same {self.field}: {xa:g}"
        return f"Close {self.field}: {xa:g} and {xb:g} (difference {d:g})"

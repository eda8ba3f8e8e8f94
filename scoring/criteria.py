"""Criterion kinds: vectorized similarity matrices in [0, 1].

Every kind offers three views of the same similarity ``S`` (rows mentees,
columns mentors):

* ``sim(ia, jb)``: the dense sub-matrix ``S[ia][:, jb]`` (float32), used for
  single rows/columns and for criteria that cannot be folded;
* ``factors()``: an exact low-rank form ``S = left @ rt`` with ``left``
  (n_mentees x k) and ``rt`` (k x n_mentors), so that the engine folds all
  foldable criteria into one matrix product per row block;
* ``pair_sim(i, j)``: ``S[i, j]`` for arrays of chosen pairs (float64).

Set overlaps and TF-IDF cosines are naturally low rank (multi-hot and TF-IDF
matrices restricted to the values present on both sides). Categories,
levels, numbers and multi-valued fields are folded through their *profiles*:
when one side has at most ``FOLD_MAX`` distinct values (departments, UTC
offsets, levels, language sets), ``S = onehot(codes) @ T`` with ``T`` the
small table of the distinct values against the other side.

Missing values yield similarity 0, never NaN: a criterion only rewards
evidence that is there. A neutral 0.5 would rank an unknown above a known
mismatch and would let a ``required`` criterion pass on no data; with 0 a
required criterion on a missing value makes the pair not allowed, which the
explanation can say plainly.

Formulas (``a`` mentee, ``b`` mentor):

* ``skill_overlap``: ``|A & B| / |A|``, the share of the skills the mentee
  wants that the mentor offers (0 if the mentee lists none);
* ``overlap``: Jaccard ``|A & B| / |A | B|`` of a multi field (0 if both empty);
* ``same`` / ``different``: 1 if both values present and equal / unequal;
* ``seniority_gap``: with ``g = level_b - level_a``, 0 outside
  ``[min_gap, max_gap]``; inside, linear from 0.5 at ``min_gap`` to 1 at
  ``ideal_gap`` and back to 0.5 at ``max_gap`` (1 on a degenerate side);
* ``proximity``: ``exp(-min(|x_a - x_b| / scale, 80))`` (the cap keeps it a
  positive float32, so ``required`` means "both values present");
* ``text_similarity``: cosine of TF-IDF vectors (scikit-learn
  ``TfidfVectorizer`` defaults plus its English stop words: lower-case, words
  of 2+ characters, smooth idf, l2 norm) fitted on both sides' texts together.

Reasons are only given for evidence: shared skills/values by whole normalized
string, the actual levels, numbers no further apart than ``scale``, and the
shared (non-stop) words that carry the text similarity.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from scoring.encode import Side

__all__ = ["FOLD_MAX", "Criterion", "build_criterion"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]
Factors = tuple[F32, F32]

#: Fold a table criterion when one side has at most this many distinct values.
FOLD_MAX = 64
#: Distances beyond this many scales count as this many: ``exp(-80)`` is still a
#: positive float32, so a required proximity only needs both values present.
PROXIMITY_CAP = 80.0
#: Densify a set/text criterion when at most this many columns are shared.
DENSE_VOCAB_MAX = 1024


def _multi_hot(
    a: list[list[str]], b: list[list[str]]
) -> tuple[sp.csr_array, sp.csr_array, list[str]]:
    vocab: dict[str, int] = {}
    for lists in (a, b):
        for vals in lists:
            for v in vals:
                vocab.setdefault(v, len(vocab))

    def build(lists: list[list[str]]) -> sp.csr_array:
        indptr = np.zeros(len(lists) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(v) for v in lists])
        indices = np.fromiter((vocab[v] for vals in lists for v in vals), np.int64, int(indptr[-1]))
        data = np.ones(len(indices), dtype=np.float32)
        return sp.csr_array((data, indices, indptr), shape=(len(lists), max(len(vocab), 1)))

    return build(a), build(b), list(vocab)


def _shared_columns(ha: sp.csr_array, hb: sp.csr_array) -> I64:
    used_a = np.bincount(ha.indices, minlength=ha.shape[1]) > 0
    used_b = np.bincount(hb.indices, minlength=hb.shape[1]) > 0
    return np.flatnonzero(used_a & used_b).astype(np.int64)


def _rowwise_dot(xa: sp.csr_array, xb: sp.csr_array, i: I64, j: I64) -> F64:
    prod = xa[i].multiply(xb[j])
    return np.asarray(prod.sum(axis=1), dtype=np.float64).reshape(-1)


def _list_words(words: list[str], limit: int = 6) -> str:
    shown = ", ".join(words[:limit])
    return shown + (f" and {len(words) - limit} more" if len(words) > limit else "")


class Criterion:
    """Base class of a criterion bound to one cohort (mentee side ``a``, mentor side ``b``)."""

    kind = ""

    def __init__(self, spec: Mapping[str, Any], a: Side, b: Side) -> None:
        self.name: str = spec["name"]
        self.field: str | None = spec.get("field")
        self.required: bool = spec["required"]
        self.params: dict[str, float] = dict(spec.get("params") or {})
        self.a = a
        self.b = b
        self.fold: _FoldState | None = None

    def sim(self, ia: I64, jb: I64) -> F32:
        """Dense ``S[ia][:, jb]`` in [0, 1], shape ``(len(ia), len(jb))``."""
        raise NotImplementedError

    def pair_sim(self, i: I64, j: I64) -> F64:
        """``S[i, j]`` for each chosen pair, shape ``(len(i),)``."""
        raise NotImplementedError

    def factors(self) -> Factors | None:
        """Exact ``(left, rt)`` with ``S = left @ rt``, or ``None`` if not foldable."""
        return None

    def positive(self, start: int, stop: int) -> Bool:
        """``S[start:stop] > 0`` (the mask of a required criterion)."""
        f = self.factors()
        if f is not None:
            out: Bool = (f[0][start:stop] @ f[1]) > 0
            return out
        rows = np.arange(start, stop, dtype=np.int64)
        return self.sim(rows, np.arange(self.b.n, dtype=np.int64)) > 0

    def reason(self, i: int, j: int) -> str | None:
        """A sentence of evidence for pair ``(i, j)``, or ``None`` if there is none."""
        return None


class _SetCriterion(Criterion):
    """Shared machinery of ``skill_overlap``, ``overlap`` and ``text_similarity``."""

    xa: sp.csr_array
    xb: sp.csr_array

    def _left_scale(self) -> F64:
        return np.ones(self.a.n)

    def _raw(self, ia: I64, jb: I64) -> F32:
        prod = self.xa[ia] @ self.xb[jb].T
        return np.asarray(prod.toarray(), dtype=np.float32)

    @cached_property
    def _factors(self) -> Factors | None:
        cols = _shared_columns(self.xa, self.xb)
        if len(cols) > DENSE_VOCAB_MAX:
            return None
        scale = self._left_scale().astype(np.float32)[:, None]
        left = np.ascontiguousarray(self.xa[:, cols].toarray(), dtype=np.float32) * scale
        rt = np.ascontiguousarray(self.xb[:, cols].T.toarray(), dtype=np.float32)
        return left, rt

    def factors(self) -> Factors | None:
        return self._factors


class SkillOverlap(_SetCriterion):
    kind = "skill_overlap"

    def __init__(self, spec: Mapping[str, Any], a: Side, b: Side) -> None:
        super().__init__(spec, a, b)
        self.xa, self.xb, self.vocab = _multi_hot(a.skills, b.skills)
        self.na = np.asarray([len(s) for s in a.skills], dtype=np.float64)

    def _left_scale(self) -> F64:
        return np.divide(1.0, self.na, out=np.zeros_like(self.na), where=self.na > 0)

    def sim(self, ia: I64, jb: I64) -> F32:
        out = self._raw(ia, jb)
        out *= self._left_scale()[ia].astype(np.float32)[:, None]
        return np.minimum(out, 1, out=out)

    def pair_sim(self, i: I64, j: I64) -> F64:
        return np.minimum(_rowwise_dot(self.xa, self.xb, i, j) * self._left_scale()[i], 1.0)

    def reason(self, i: int, j: int) -> str | None:
        wanted = self.a.skills[i]
        offered = set(self.b.skills[j])
        hits = [s for s in wanted if s in offered]
        if not hits:
            return None
        noun = "skill" if len(wanted) == 1 else "skills"
        return (
            f"Mentor offers {len(hits)} of the {len(wanted)} {noun} the mentee wants: "
            + _list_words(hits)
        )


class Overlap(_SetCriterion):
    kind = "overlap"

    def __init__(self, spec: Mapping[str, Any], a: Side, b: Side) -> None:
        super().__init__(spec, a, b)
        assert self.field is not None
        self.la, self.lb = a.multis[self.field], b.multis[self.field]
        self.xa, self.xb, self.vocab = _multi_hot(self.la, self.lb)
        self.na = np.asarray([len(s) for s in self.la], dtype=np.float32)
        self.nb = np.asarray([len(s) for s in self.lb], dtype=np.float32)

    def _jaccard(self, inter: F32, na: F32, nb: F32) -> F32:
        union = na + nb - inter
        out: F32 = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        return out

    def sim(self, ia: I64, jb: I64) -> F32:
        return self._jaccard(self._raw(ia, jb), self.na[ia][:, None], self.nb[jb][None, :])

    def pair_sim(self, i: I64, j: I64) -> F64:
        inter = _rowwise_dot(self.xa, self.xb, i, j)
        union = self.na[i].astype(np.float64) + self.nb[j] - inter
        return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)

    @cached_property
    def _factors(self) -> Factors | None:
        return _fold_profiles(self, _profiles_of_lists(self.la), _profiles_of_lists(self.lb))

    def positive(self, start: int, stop: int) -> Bool:
        return _fold_positive(self, start, stop)

    def reason(self, i: int, j: int) -> str | None:
        other = set(self.lb[j])
        hits = [v for v in self.la[i] if v in other]
        return f"Shared {self.field}: {_list_words(hits)}" if hits else None


class TextSimilarity(_SetCriterion):
    kind = "text_similarity"

    def __init__(self, spec: Mapping[str, Any], a: Side, b: Side) -> None:
        super().__init__(spec, a, b)
        assert self.field is not None
        docs = a.texts[self.field] + b.texts[self.field]
        vec = TfidfVectorizer(dtype=np.float32, stop_words="english")
        try:
            x = sp.csr_array(vec.fit_transform(docs))
            self.terms: list[str] = list(vec.get_feature_names_out())
        except ValueError:  # no word of 2+ characters anywhere: nothing to compare
            x = sp.csr_array((len(docs), 1), dtype=np.float32)
            self.terms = [""]
        self.xa, self.xb = x[: a.n], x[a.n :]

    def sim(self, ia: I64, jb: I64) -> F32:
        out = self._raw(ia, jb)
        return np.minimum(out, 1, out=out)

    def pair_sim(self, i: I64, j: I64) -> F64:
        return np.minimum(_rowwise_dot(self.xa, self.xb, i, j), 1.0)

    def reason(self, i: int, j: int) -> str | None:
        ra, rb = self.xa[[i]], self.xb[[j]]
        prod = ra.multiply(rb).tocoo()
        if prod.nnz == 0:
            return None
        order = np.argsort(-prod.data, kind="stable")
        words = [self.terms[int(k)] for k in prod.col[order]]
        return f"Similar {self.field}, sharing: {_list_words(words, 5)}"


def _profiles_of_values(values: npt.NDArray[Any]) -> tuple[I64, I64]:
    """Codes of distinct values (NaN is one value) and one representative index each."""
    _, reps, codes = np.unique(values, return_index=True, return_inverse=True)
    return codes.reshape(-1).astype(np.int64), reps.astype(np.int64)


def _profiles_of_lists(lists: list[list[str]]) -> tuple[I64, I64]:
    seen: dict[frozenset[str], int] = {}
    codes = np.fromiter(
        (seen.setdefault(frozenset(v), len(seen)) for v in lists), np.int64, len(lists)
    )
    reps = np.zeros(len(seen), dtype=np.int64)
    reps[codes[::-1]] = np.arange(len(lists) - 1, -1, -1)
    return codes, reps


class _FoldState:
    def __init__(self, side: str, codes: I64, pos: Bool) -> None:
        self.side = side
        self.codes = codes
        self.pos = pos


def _fold_profiles(
    crit: Criterion, prof_a: tuple[I64, I64], prof_b: tuple[I64, I64]
) -> Factors | None:
    """Fold ``S`` through the distinct values of the side that has fewer of them."""
    (ca, ra), (cb, rb) = prof_a, prof_b
    all_a = np.arange(crit.a.n, dtype=np.int64)
    all_b = np.arange(crit.b.n, dtype=np.int64)
    if min(len(ra), len(rb)) > FOLD_MAX:
        return None
    if len(ra) <= len(rb):
        table = crit.sim(ra, all_b)  # (u_a, n_mentors)
        left = np.zeros((crit.a.n, len(ra)), dtype=np.float32)
        left[all_a, ca] = 1.0
        crit.fold = _FoldState("a", ca, table > 0)
        return left, np.ascontiguousarray(table)
    table = crit.sim(all_a, rb)  # (n_mentees, u_b)
    rt = np.zeros((len(rb), crit.b.n), dtype=np.float32)
    rt[cb, all_b] = 1.0
    crit.fold = _FoldState("b", cb, table > 0)
    return np.ascontiguousarray(table), rt


def _fold_positive(crit: Criterion, start: int, stop: int) -> Bool:
    fold = crit.fold if crit.factors() is not None else None
    if fold is None:
        return Criterion.positive(crit, start, stop)
    if fold.side == "a":
        return fold.pos[fold.codes[start:stop]]
    return fold.pos[start:stop][:, fold.codes]


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
        return _fold_profiles(self, _profiles_of_values(self.va), _profiles_of_values(self.vb))

    def factors(self) -> Factors | None:
        return self._factors

    def positive(self, start: int, stop: int) -> Bool:
        return _fold_positive(self, start, stop)


class _CategoryCriterion(_ValueCriterion):
    def __init__(self, spec: Mapping[str, Any], a: Side, b: Side) -> None:
        super().__init__(spec, a, b)
        assert self.field is not None
        self.va, self.vb = a.categories[self.field], b.categories[self.field]
        self.labels: list[str] = []


class Same(_CategoryCriterion):
    kind = "same"

    def _f(self, xa: npt.NDArray[Any], xb: npt.NDArray[Any]) -> Bool:
        out: Bool = (xa == xb) & (xa >= 0)
        return out

    def reason(self, i: int, j: int) -> str | None:
        if self.va[i] < 0 or self.va[i] != self.vb[j]:
            return None
        return f"Same {self.field}: {self.labels[int(self.va[i])]}"


class Different(_CategoryCriterion):
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

    def _f(self, xa: npt.NDArray[Any], xb: npt.NDArray[Any]) -> F64:
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
        if (
            np.isnan(la)
            or np.isnan(lb)
            or float(self.pair_sim(np.array([i]), np.array([j]))[0]) <= 0
        ):
            return None
        gap = int(lb - la)
        unit = "level" if abs(gap) == 1 else "levels"
        return f"Mentor is {gap} {unit} senior ({self._name(la)} -> {self._name(lb)})"


class Proximity(_ValueCriterion):
    kind = "proximity"

    def __init__(self, spec: Mapping[str, Any], a: Side, b: Side) -> None:
        super().__init__(spec, a, b)
        assert self.field is not None
        self.va, self.vb = a.numbers[self.field], b.numbers[self.field]

    def _f(self, xa: npt.NDArray[Any], xb: npt.NDArray[Any]) -> F64:
        d = np.minimum(np.abs(xa - xb) / self.params["scale"], PROXIMITY_CAP)
        out: F64 = np.nan_to_num(np.exp(-d), nan=0.0)
        return out

    def sim(self, ia: I64, jb: I64) -> F32:
        xa = self.va[ia].astype(np.float32)[:, None]
        xb = self.vb[jb].astype(np.float32)[None, :]
        d = np.subtract(xa, xb)
        np.abs(d, out=d)
        d *= np.float32(1.0 / self.params["scale"])
        np.minimum(d, np.float32(PROXIMITY_CAP), out=d)
        np.nan_to_num(d, copy=False, nan=np.inf)
        np.negative(d, out=d)
        return np.exp(d, out=d)

    def reason(self, i: int, j: int) -> str | None:
        xa, xb = self.va[i], self.vb[j]
        if np.isnan(xa) or np.isnan(xb):
            return None
        d = abs(xa - xb)
        if d > self.params["scale"]:
            return None  # not close enough to call it evidence
        if d == 0:
            return f"Same {self.field}: {xa:g}"
        return f"Close {self.field}: {xa:g} and {xb:g} (difference {d:g})"


def build_criterion(
    spec: Mapping[str, Any], a: Side, b: Side, config: Mapping[str, Any]
) -> Criterion:
    """Bind a validated criterion spec to an encoded cohort."""
    kind = spec["kind"]
    if kind == "skill_overlap":
        return SkillOverlap(spec, a, b)
    if kind == "overlap":
        return Overlap(spec, a, b)
    if kind == "text_similarity":
        return TextSimilarity(spec, a, b)
    if kind == "seniority_gap":
        return SeniorityGap(spec, a, b, list(config.get("position_levels") or []))
    if kind == "proximity":
        return Proximity(spec, a, b)
    labels = next(f["values"] for f in config["fields"] if f["key"] == spec["field"])
    crit: _CategoryCriterion = Same(spec, a, b) if kind == "same" else Different(spec, a, b)
    crit.labels = list(labels)
    return crit

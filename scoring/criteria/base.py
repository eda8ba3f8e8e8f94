"""Criterion base class, shared helpers and the profile folding of table criteria."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from scoring.encode import Side

__all__ = ["DENSE_VOCAB_MAX", "FOLD_MAX", "PROXIMITY_CAP", "Criterion"]

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


def multi_hot(
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


def shared_columns(ha: sp.csr_array, hb: sp.csr_array) -> I64:
    used_a = np.bincount(ha.indices, minlength=ha.shape[1]) > 0
    used_b = np.bincount(hb.indices, minlength=hb.shape[1]) > 0
    return np.flatnonzero(used_a & used_b).astype(np.int64)


def rowwise_dot(xa: sp.csr_array, xb: sp.csr_array, i: I64, j: I64) -> F64:
    prod = xa[i].multiply(xb[j])
    return np.asarray(prod.sum(axis=1), dtype=np.float64).reshape(-1)


def list_words(words: list[str], limit: int = 6) -> str:
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

    def positive(self, start: int, stop: int, c0: int, c1: int) -> Bool:
        """``S[start:stop, c0:c1] > 0`` (the mask of a required criterion)."""
        rows = np.arange(start, stop, dtype=np.int64)
        return self.sim(rows, np.arange(c0, c1, dtype=np.int64)) > 0

    def mask_factors(self) -> Factors | None:
        """``(left, rt)`` whose product is positive exactly where ``S`` is, when a
        (sparse) product is the way to the mask; ``None``: use :meth:`positive`."""
        return None

    def mask_is_lookup(self) -> bool:
        """Whether :meth:`positive` is a table lookup (whole rows at memory speed)."""
        return self.factors() is not None and self.fold is not None

    def reason(self, _i: int, _j: int) -> str | None:
        """A sentence of evidence for pair ``(i, j)``, or ``None`` if there is none.

        Only called for pairs whose similarity is positive.
        """
        return None


def profiles_of_values(values: npt.NDArray[Any]) -> tuple[I64, I64]:
    """Codes of distinct values (NaN is one value) and one representative index each."""
    _, reps, codes = np.unique(values, return_index=True, return_inverse=True)
    return codes.reshape(-1).astype(np.int64), reps.astype(np.int64)


def profiles_of_lists(lists: list[list[str]]) -> tuple[I64, I64]:
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


def fold_profiles(
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


def fold_positive(crit: Criterion, start: int, stop: int, c0: int, c1: int) -> Bool:
    fold = crit.fold if crit.factors() is not None else None
    if fold is None:
        return Criterion.positive(crit, start, stop, c0, c1)
    if fold.side == "a":
        return fold.pos[fold.codes[start:stop], c0:c1]
    return fold.pos[start:stop][:, fold.codes[c0:c1]]

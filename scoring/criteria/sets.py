"""Set and text criteria: ``skill_overlap``, ``overlap``, ``text_similarity``."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from scoring.criteria import base
from scoring.criteria.base import (
    F32,
    F64,
    I64,
    Bool,
    Criterion,
    Factors,
    fold_positive,
    fold_profiles,
    list_words,
    multi_hot,
    profiles_of_lists,
    rowwise_dot,
    shared_columns,
)
from scoring.encode import Side
from scoring.text import EmptyVocabularyError, tfidf

__all__ = ["Overlap", "SkillOverlap", "TextSimilarity"]


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
        cols = shared_columns(self.xa, self.xb)
        if len(cols) > base.DENSE_VOCAB_MAX:
            return None
        scale = self._left_scale().astype(np.float32)[:, None]
        left = np.ascontiguousarray(self.xa[:, cols].toarray(), dtype=np.float32) * scale
        rt = np.ascontiguousarray(self.xb[:, cols].T.toarray(), dtype=np.float32)
        return left, rt

    def factors(self) -> Factors | None:
        return self._factors

    def mask_factors(self) -> Factors | None:
        # Nonnegative factors: a pair is positive when it shares a column.
        return self.factors()


class SkillOverlap(_SetCriterion):
    kind = "skill_overlap"

    def __init__(self, spec: Mapping[str, Any], a: Side, b: Side) -> None:
        super().__init__(spec, a, b)
        self.xa, self.xb, self.vocab = multi_hot(a.skills, b.skills)
        self.na = np.asarray([len(s) for s in a.skills], dtype=np.float64)

    def _left_scale(self) -> F64:
        return np.divide(1.0, self.na, out=np.zeros_like(self.na), where=self.na > 0)

    def sim(self, ia: I64, jb: I64) -> F32:
        out = self._raw(ia, jb)
        out *= self._left_scale()[ia].astype(np.float32)[:, None]
        return np.minimum(out, 1, out=out)

    def pair_sim(self, i: I64, j: I64) -> F64:
        return np.minimum(rowwise_dot(self.xa, self.xb, i, j) * self._left_scale()[i], 1.0)

    def reason(self, i: int, j: int) -> str | None:
        wanted = self.a.skills[i]
        offered = set(self.b.skills[j])
        hits = [s for s in wanted if s in offered]
        if not hits:
            return None
        noun = "skill" if len(wanted) == 1 else "skills"
        return (
            f"Mentor offers {len(hits)} of the {len(wanted)} {noun} the mentee wants: "
            + list_words(hits)
        )


class Overlap(_SetCriterion):
    kind = "overlap"

    def __init__(self, spec: Mapping[str, Any], a: Side, b: Side) -> None:
        super().__init__(spec, a, b)
        assert self.field is not None
        self.la, self.lb = a.multis[self.field], b.multis[self.field]
        self.xa, self.xb, self.vocab = multi_hot(self.la, self.lb)
        self.na = np.asarray([len(s) for s in self.la], dtype=np.float32)
        self.nb = np.asarray([len(s) for s in self.lb], dtype=np.float32)

    def _jaccard(self, inter: F32, na: F32, nb: F32) -> F32:
        union = na + nb - inter
        out: F32 = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        return out

    def sim(self, ia: I64, jb: I64) -> F32:
        return self._jaccard(self._raw(ia, jb), self.na[ia][:, None], self.nb[jb][None, :])

    def pair_sim(self, i: I64, j: I64) -> F64:
        inter = rowwise_dot(self.xa, self.xb, i, j)
        union = self.na[i].astype(np.float64) + self.nb[j] - inter
        return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)

    @cached_property
    def _factors(self) -> Factors | None:
        return fold_profiles(self, profiles_of_lists(self.la), profiles_of_lists(self.lb))

    def positive(self, start: int, stop: int, c0: int, c1: int) -> Bool:
        return fold_positive(self, start, stop, c0, c1)

    def mask_factors(self) -> Factors | None:
        return None  # profiles: a table lookup (or the similarity itself)

    def reason(self, i: int, j: int) -> str | None:
        other = set(self.lb[j])
        hits = [v for v in self.la[i] if v in other]
        return f"Shared {self.field}: {list_words(hits)}" if hits else None


class TextSimilarity(_SetCriterion):
    kind = "text_similarity"

    def __init__(self, spec: Mapping[str, Any], a: Side, b: Side) -> None:
        super().__init__(spec, a, b)
        assert self.field is not None
        docs = a.texts[self.field] + b.texts[self.field]
        try:  # scikit-learn's TfidfVectorizer, without its second of start-up
            x, self.terms = tfidf(docs)
        except EmptyVocabularyError:  # no word of 2+ characters anywhere: nothing to compare
            x = sp.csr_array((len(docs), 1), dtype=np.float32)
            self.terms = [""]
        self.xa, self.xb = x[: a.n], x[a.n :]

    def sim(self, ia: I64, jb: I64) -> F32:
        out = self._raw(ia, jb)
        return np.minimum(out, 1, out=out)

    def pair_sim(self, i: I64, j: I64) -> F64:
        return np.minimum(rowwise_dot(self.xa, self.xb, i, j), 1.0)

    def reason(self, i: int, j: int) -> str | None:
        xa, xb = self.xa, self.xb
        sa, sb = slice(xa.indptr[i], xa.indptr[i + 1]), slice(xb.indptr[j], xb.indptr[j + 1])
        common, ka, kb = np.intersect1d(
            xa.indices[sa], xb.indices[sb], assume_unique=True, return_indices=True
        )
        if len(common) == 0:
            return None
        weight = xa.data[sa][ka] * xb.data[sb][kb]
        words = [self.terms[int(k)] for k in common[np.argsort(-weight, kind="stable")]]
        return f"Similar {self.field}, sharing: {list_words(words, 5)}"

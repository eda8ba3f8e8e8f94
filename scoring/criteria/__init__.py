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

Formulas (``a`` mentee, ``b`` mentor; ``seniority_gap`` and ``proximity`` may
instead give a table of similarity by whole-number gap, :mod:`scoring.points`):

* ``skill_overlap``: ``|A & B| / |A|``, the share of the skills the mentee
  wants that the mentor offers (0 if the mentee lists none);
* ``overlap``: Jaccard ``|A & B| / |A | B|`` of a multi field (0 if both empty);
* ``same`` / ``different``: 1 if both values present and equal / unequal
  (integer codes; an open field's built from the union of both sides' values);
* ``seniority_gap``: with ``g = level_b - level_a``, 0 outside
  ``[min_gap, max_gap]``; inside, linear from 0.5 at ``min_gap`` to 1 at
  ``ideal_gap`` and back to 0.5 at ``max_gap`` (1 on a degenerate side);
* ``proximity``: ``exp(-min(|x_a - x_b| / scale, 80))`` (the cap keeps it a
  positive float32, so ``required`` means "both values present");
* ``text_similarity``: cosine of TF-IDF vectors (scikit-learn
  ``TfidfVectorizer`` defaults plus its English stop words: lower-case, words
  of 2+ characters, smooth idf, l2 norm) fitted on both sides' texts together,
  computed by :mod:`scoring.text` without importing scikit-learn.

Reasons are only given for evidence: shared skills/values by whole normalized
string, the actual levels, numbers no further apart than ``scale``, and the
shared (non-stop) words that carry the text similarity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scoring.criteria.base import DENSE_VOCAB_MAX, FOLD_MAX, PROXIMITY_CAP, Criterion
from scoring.criteria.sets import Overlap, SkillOverlap, TextSimilarity
from scoring.criteria.values import CategoryCriterion, Different, Proximity, Same, SeniorityGap
from scoring.encode import Side

__all__ = [
    "DENSE_VOCAB_MAX",
    "FOLD_MAX",
    "PROXIMITY_CAP",
    "Criterion",
    "Different",
    "Overlap",
    "Proximity",
    "Same",
    "SeniorityGap",
    "SkillOverlap",
    "TextSimilarity",
    "build_criterion",
]


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
    crit: CategoryCriterion = Same(spec, a, b) if kind == "same" else Different(spec, a, b)
    return crit

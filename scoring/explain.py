"""Explanations of chosen pairs: a breakdown that sums to the score, and reasons.

The breakdown lists every criterion with its *normalized* weight (the weights
of the call divided by their sum, so they sum to 1; equal weights if all are
0), its similarity, and ``contribution = weight * similarity``; the
contributions sum to the pair's score (up to float rounding, well under 1e-6).
Reasons are sentences built only from evidence present in both profiles
(skills matched as whole normalized strings, shared values, the actual levels
and numbers). Each sentence is given once: criteria giving the same one (two
``seniority_gap`` rules, say) are merged and their contributions added; the
sentences are ordered by that contribution, largest first, ties in config order.
For a pair that is not allowed, ``blocked_by`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scoring.engine import Engine, as_index

__all__ = ["Explanation", "explain_pairs"]


@dataclass(frozen=True)
class Explanation:
    """Why a mentee-mentor pair scores what it scores.

    Attributes
    ----------
    mentee, mentor : int
        Row and column indices of the pair.
    score : float
        Weighted mean similarity in [0, 1]; equals the sum of contributions.
    breakdown : list of dict
        ``{"criterion", "weight", "similarity", "contribution"}`` per criterion,
        in config order.
    reasons : list of str
        Evidence sentences, strongest first.
    allowed : bool
        Whether the pair passes every hard constraint.
    blocked_by : list of str
        Why the pair is not allowed (empty when allowed).
    mentee_id, mentor_id : str or None
        The participants' ``external_id``.
    """

    mentee: int
    mentor: int
    score: float
    breakdown: list[dict[str, Any]]
    reasons: list[str]
    allowed: bool = True
    blocked_by: list[str] = field(default_factory=list)
    mentee_id: str | None = None
    mentor_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready fields of the API's match: score, breakdown, reasons."""
        return {"score": self.score, "breakdown": self.breakdown, "reasons": self.reasons}


def explain_pairs(engine: Engine, mentee: object, mentor: object) -> list[Explanation]:
    """Explain pairs ``(mentee[k], mentor[k])``; vectorized over the pairs."""
    i = as_index(mentee, engine.a.n, "mentee")
    j = as_index(mentor, engine.b.n, "mentor")
    if len(i) != len(j):
        raise ValueError(f"expected as many mentee as mentor indices, got {len(i)} and {len(j)}")
    sims, _, allowed = engine.pair_scores(i, j)
    w = engine.weights
    contrib = sims * w
    scores = np.minimum(contrib.sum(axis=1), 1.0)
    excluded = engine.excluded(i, j)
    # Python floats and lists once for all pairs: indexing NumPy arrays one element
    # at a time cost more than building the explanations.
    criteria = [(n, c, c.name, float(w[n])) for n, c in enumerate(engine.criteria)]
    ids_a, ids_b = engine.a.ids, engine.b.ids
    rows = zip(
        i.tolist(),
        j.tolist(),
        sims.tolist(),
        contrib.tolist(),
        scores.tolist(),
        allowed.tolist(),
        strict=True,
    )
    out = []
    for k, (ii, jj, sim, part, score, ok) in enumerate(rows):
        breakdown = [
            {"criterion": name, "weight": weight, "similarity": sim[n], "contribution": part[n]}
            for n, _, name, weight in criteria
        ]
        merged: dict[str, float] = {}  # reason -> the contributions of the criteria giving it
        for n, c, _, _ in criteria:
            if sim[n] > 0 and (text := c.reason(ii, jj)) is not None:
                merged[text] = merged.get(text, 0.0) + part[n]
        reasons = sorted(merged, key=lambda text: -merged[text])  # stable: ties in config order
        out.append(
            Explanation(
                mentee=ii,
                mentor=jj,
                score=score,
                breakdown=breakdown,
                reasons=reasons,
                allowed=ok,
                blocked_by=[] if ok else _blocked_by(engine, ii, jj, sim, bool(excluded[k])),
                mentee_id=ids_a[ii],
                mentor_id=ids_b[jj],
            )
        )
    return out


def _blocked_by(engine: Engine, ii: int, jj: int, sim: list[float], excluded: bool) -> list[str]:
    """Why the pair ``(ii, jj)`` is not allowed, its criteria similarities ``sim``."""
    blocked = []
    if not engine.a.active[ii]:
        blocked.append("mentee is not active")
    if not engine.b.active[jj]:
        blocked.append("mentor is not active")
    if excluded:
        blocked.append("pair is excluded (same person, exclusion list or existing match)")
    blocked += [
        f"required criterion {c.name!r} is not met"
        for n, c in enumerate(engine.criteria)
        if c.required and sim[n] <= 0
    ]
    return blocked

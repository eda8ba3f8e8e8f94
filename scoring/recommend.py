"""Recommendations: the best feasible partners of one participant."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from scoring.engine import Engine
from scoring.errors import ScoringError
from scoring.explain import Explanation, explain_pairs

__all__ = ["encode_cohort", "recommend", "recommend_from"]


def _locate(who: int | str, ids: list[str | None], n: int, side: str) -> int:
    if isinstance(who, str):
        if who not in ids:
            raise ScoringError(f"{side}: no participant with external_id {who!r}")
        return ids.index(who)
    if not isinstance(who, int | np.integer) or isinstance(who, bool) or not 0 <= who < n:
        raise ScoringError(f"{side}: expected an index in [0, {n}) or an external_id, got {who!r}")
    return int(who)


def recommend(
    mentees: Sequence[Any],
    mentors: Sequence[Any],
    config: object,
    *,
    mentee: int | str | None = None,
    mentor: int | str | None = None,
    k: int = 10,
    weights: Mapping[str, float] | None = None,
    exclude_pairs: Iterable[tuple[int, int]] | None = None,
    candidate_mask: object = None,
    min_score: float | None = None,
) -> list[Explanation]:
    """Top-``k`` allowed partners of one mentee (a row) or one mentor (a column).

    Only that row or column is computed (``O(n_other)`` work), never the
    matrix.

    Parameters
    ----------
    mentees, mentors, config, weights, exclude_pairs
        As for :func:`scoring.compatibility`.
    mentee, mentor : int or str
        Exactly one: the participant (index or ``external_id``) to recommend for.
    k : int, optional
        How many partners at most.
    candidate_mask : array of bool, optional
        Over the other side (mentors for a mentee, mentees for a mentor);
        ``False`` drops a candidate, e.g. a mentor without free capacity.
    min_score : float, optional
        Drop candidates scoring below this.

    Returns
    -------
    list of Explanation
        Best first (ties: lower index first), each with ``score``,
        ``breakdown`` and ``reasons``.

    Examples
    --------
    >>> cfg = {"criteria": [{"name": "skills", "kind": "skill_overlap"}]}
    >>> mentors = [{"external_id": "m1", "skills": ["sql"]},
    ...            {"external_id": "m2", "skills": ["sql", "python"]},
    ...            {"external_id": "m3", "skills": ["go"]}]
    >>> recs = recommend([{"external_id": "e1", "skills": ["python", "sql"]}], mentors, cfg,
    ...                  mentee="e1", k=2, candidate_mask=[True, True, False])
    >>> [(r.mentor_id, r.score) for r in recs]
    [('m2', 1.0), ('m1', 0.5)]
    """
    _check_request(mentee, mentor, k)
    engine = Engine(mentees, mentors, config, weights=weights, exclude_pairs=exclude_pairs)
    return recommend_from(
        engine,
        mentee=mentee,
        mentor=mentor,
        k=k,
        candidate_mask=candidate_mask,
        min_score=min_score,
    )


def _check_request(mentee: int | str | None, mentor: int | str | None, k: object) -> None:
    if (mentee is None) == (mentor is None):
        raise ScoringError("expected exactly one of mentee= or mentor=")
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
        raise ScoringError(f"k: expected an integer >= 1, got {k!r}")


def recommend_from(
    engine: Engine,
    *,
    mentee: int | str | None = None,
    mentor: int | str | None = None,
    k: int = 10,
    candidate_mask: object = None,
    min_score: float | None = None,
) -> list[Explanation]:
    """:func:`recommend` on an encoded cohort (:func:`encode_cohort`), which a caller
    may keep and reuse for many participants: encoding is most of the cost.

    Examples
    --------
    >>> cfg = {"criteria": [{"name": "skills", "kind": "skill_overlap"}]}
    >>> engine = encode_cohort([{"external_id": "e1", "skills": ["sql"]}],
    ...                        [{"external_id": "m1", "skills": ["sql"]}], cfg)
    >>> [(r.mentee_id, r.score) for r in recommend_from(engine, mentor="m1")]
    [('e1', 1.0)]
    """
    _check_request(mentee, mentor, k)
    n, m = engine.shape
    if mentee is not None:
        me = _locate(mentee, engine.a.ids, n, "mentee")
        i, j = np.full(m, me, dtype=np.int64), np.arange(m, dtype=np.int64)
        other_n, other = m, "mentors"
    else:
        assert mentor is not None
        me = _locate(mentor, engine.b.ids, m, "mentor")
        i, j = np.arange(n, dtype=np.int64), np.full(n, me, dtype=np.int64)
        other_n, other = n, "mentees"
    _, scores, ok = engine.pair_scores(i, j)
    # Match the dense matrix exactly: it is float32.
    scores32 = scores.astype(np.float32)
    if candidate_mask is not None:
        mask = np.asarray(candidate_mask)
        if mask.dtype != np.bool_ or mask.shape != (other_n,):
            raise ScoringError(
                f"candidate_mask: expected a bool array over the {other_n} {other}, "
                f"got dtype {mask.dtype} and shape {mask.shape}"
            )
        ok &= mask
    if min_score is not None:
        ok &= scores32 >= min_score
    cand = np.flatnonzero(ok)
    order = cand[np.lexsort((cand, -scores32[cand]))][:k]
    return explain_pairs(engine, i[order], j[order])


def encode_cohort(
    mentees: Sequence[Any],
    mentors: Sequence[Any],
    config: object,
    *,
    weights: Mapping[str, float] | None = None,
    exclude_pairs: Iterable[tuple[int, int]] | None = None,
) -> Engine:
    """A validated, encoded cohort for :func:`recommend_from` (arguments as for
    :func:`recommend`); safe to share between threads."""
    return Engine(mentees, mentors, config, weights=weights, exclude_pairs=exclude_pairs)

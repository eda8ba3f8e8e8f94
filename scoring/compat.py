"""Public entry points: dense and lazy compatibility matrices, and explanations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from scoring.engine import Engine
from scoring.explain import Explanation, explain_pairs

__all__ = [
    "Compatibility",
    "LazyCompatibility",
    "compatibility",
    "explain",
    "lazy_compatibility",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Compatibility:
    """Dense compatibility of a cohort.

    Attributes
    ----------
    scores : ndarray of float32, shape (n_mentees, n_mentors)
        Weighted mean similarity in [0, 1].
    allowed : ndarray of bool, shape (n_mentees, n_mentors)
        Hard constraints: required criteria, exclusions, self-pairs, inactive.
    criteria : tuple of str
        Criterion names, in config order.
    weights : ndarray of float64, shape (n_criteria,)
        Normalized weights (sum 1) actually used.
    """

    scores: F32
    allowed: Bool
    criteria: tuple[str, ...]
    weights: F64
    engine: Engine = field(repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_mentees, n_mentors)``."""
        return self.engine.shape

    def explain(self, mentee: object, mentor: object) -> list[Explanation]:
        """Explain chosen pairs; see :func:`scoring.explain`."""
        return explain_pairs(self.engine, mentee, mentor)


def _block_rows(engine: Engine, block_rows: int | None) -> int:
    if block_rows is None:
        return engine.default_block_rows()
    if (
        not isinstance(block_rows, int | np.integer)
        or isinstance(block_rows, bool)
        or block_rows < 1
    ):
        raise ValueError(f"block_rows: expected an integer >= 1, got {block_rows!r}")
    return int(block_rows)


class LazyCompatibility:
    """Compatibility computed on demand, row block by row block.

    Implements the matcher's lazy-matrix protocol (DESIGN section 5): ``shape``,
    ``dtype``, ``rows(start, stop)`` and ``allowed_rows(start, stop)``.
    """

    def __init__(self, engine: Engine, block_rows: int | None = None) -> None:
        self.engine = engine
        self.shape: tuple[int, int] = engine.shape
        self.dtype = np.dtype(np.float32)
        self.criteria: tuple[str, ...] = engine.names
        self.weights: F64 = engine.weights
        self.block_rows = _block_rows(engine, block_rows)

    def rows(self, start: int, stop: int) -> F32:
        """Scores of mentees ``start:stop``, float32 of shape ``(stop-start, n_mentors)``."""
        start, stop = self._range(start, stop)
        scores = np.empty((stop - start, self.shape[1]), np.float32)
        self.engine.fill(start, stop, self.block_rows, scores, None)
        return scores

    def allowed_rows(self, start: int, stop: int) -> Bool:
        """Allowed mask of mentees ``start:stop``, bool of shape ``(stop-start, n_mentors)``."""
        start, stop = self._range(start, stop)
        allowed = np.empty((stop - start, self.shape[1]), bool)
        self.engine.fill(start, stop, self.block_rows, None, allowed)
        return allowed

    def _range(self, start: int, stop: int) -> tuple[int, int]:
        n = self.shape[0]
        if not 0 <= start <= n or stop < start:
            raise IndexError(f"rows {start}:{stop} out of range for {n} mentees")
        return start, min(stop, n)

    def explain(self, mentee: object, mentor: object) -> list[Explanation]:
        """Explain chosen pairs; see :func:`scoring.explain`."""
        return explain_pairs(self.engine, mentee, mentor)

    def top_k(self, k: int) -> tuple[I64, I64, F32]:
        """Candidate pairs: every row's and every column's ``k`` best allowed partners.

        One blocked pass over the rows; memory is a few blocks plus
        ``k x n_mentors`` running column bests.

        Parameters
        ----------
        k : int
            Partners per mentee and per mentor (fewer when fewer are allowed).

        Returns
        -------
        row, col : ndarray of int64
            Pairs, sorted by row then column, without duplicates.
        score : ndarray of float32
            Their scores.

        Examples
        --------
        >>> from scoring.synthetic import generate_cohort
        >>> mentees, mentors, cfg = generate_cohort(30, 20, seed=1)
        >>> lazy = lazy_compatibility(mentees, mentors, cfg, block_rows=7)
        >>> row, col, score = lazy.top_k(3)
        >>> bool(np.all(lazy.allowed_rows(0, 30)[row, col]))
        True
        """
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k: expected an integer >= 1, got {k!r}")
        n, m = self.shape
        k_row, k_col = min(int(k), m), min(int(k), n)
        best_s = np.full((0, m), -1.0, dtype=np.float32)
        best_i = np.zeros((0, m), dtype=np.int64)
        parts_i, parts_j, parts_s = [], [], []
        # Chunks of one block per worker thread, so blocks are computed in parallel.
        chunk = self.block_rows * self.engine.threads()
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            blk, ok = self.engine.rows(s, e, self.block_rows)
            blk[~ok] = -1.0
            if k_row < m:
                idx = np.argpartition(blk, m - k_row, axis=1)[:, m - k_row :]
            else:
                idx = np.broadcast_to(np.arange(m), blk.shape)
            vals = np.take_along_axis(blk, idx, axis=1)
            keep = vals >= 0
            parts_i.append(np.broadcast_to(np.arange(s, e)[:, None], idx.shape)[keep])
            parts_j.append(idx[keep])
            parts_s.append(vals[keep])
            comb_s = np.vstack([best_s, blk])
            comb_i = np.vstack([best_i, np.broadcast_to(np.arange(s, e)[:, None], blk.shape)])
            if comb_s.shape[0] > k_col:
                sel = np.argpartition(comb_s, comb_s.shape[0] - k_col, axis=0)[-k_col:]
                comb_s = np.take_along_axis(comb_s, sel, axis=0)
                comb_i = np.take_along_axis(comb_i, sel, axis=0)
            best_s, best_i = comb_s, comb_i
        keep = best_s >= 0
        parts_i.append(best_i[keep])
        parts_j.append(np.broadcast_to(np.arange(m)[None, :], best_s.shape)[keep])
        parts_s.append(best_s[keep])
        lin = np.concatenate(parts_i) * m + np.concatenate(parts_j)
        lin, first = np.unique(lin, return_index=True)
        score = np.concatenate(parts_s)[first].astype(np.float32)
        return (lin // m).astype(np.int64), (lin % m).astype(np.int64), score


def compatibility(
    mentees: Sequence[Any],
    mentors: Sequence[Any],
    config: object,
    *,
    weights: Mapping[str, float] | None = None,
    exclude_pairs: Iterable[tuple[int, int]] | None = None,
    block_rows: int | None = None,
) -> Compatibility:
    """Score every mentee against every mentor.

    Parameters
    ----------
    mentees, mentors : list of dict
        Participants in the API's JSON shape (``external_id``, ``position``,
        ``level``, ``skills``, ``attributes``, ``exclude``, ``active``...);
        missing keys are absent values.
    config : dict
        Program config (DESIGN section 4), validated here.
    weights : dict of str to float, optional
        Criterion weights replacing the config's (learned weights); criteria
        not named keep their config weight.
    exclude_pairs : iterable of (int, int), optional
        ``(mentee index, mentor index)`` pairs never allowed (existing or past
        matches).
    block_rows : int, optional
        Rows per block (default: about 4M matrix elements per block).

    Returns
    -------
    Compatibility
        ``scores`` (float32, n_mentees x n_mentors, in [0, 1]), ``allowed``
        (bool, same shape), ``criteria`` and ``weights``.

    Raises
    ------
    ConfigError
        Invalid config or weights.
    ParticipantError
        Invalid participant (names side, index, external_id and field).
    EmptyCohortError
        No mentees or no mentors.

    Examples
    --------
    >>> cfg = {"criteria": [{"name": "skills", "kind": "skill_overlap"}]}
    >>> mentees = [{"external_id": "e1", "skills": ["Python", "SQL"]}]
    >>> mentors = [{"external_id": "m1", "skills": ["python"]},
    ...            {"external_id": "m2", "skills": ["retail"]}]
    >>> c = compatibility(mentees, mentors, cfg)
    >>> c.scores
    array([[0.5, 0. ]], dtype=float32)
    >>> c.allowed
    array([[ True,  True]])
    """
    engine = Engine(mentees, mentors, config, weights=weights, exclude_pairs=exclude_pairs)
    scores, allowed = engine.rows(0, engine.shape[0], _block_rows(engine, block_rows))
    return Compatibility(
        scores=scores,
        allowed=allowed,
        criteria=engine.names,
        weights=engine.weights,
        engine=engine,
    )


def lazy_compatibility(
    mentees: Sequence[Any],
    mentors: Sequence[Any],
    config: object,
    *,
    weights: Mapping[str, float] | None = None,
    exclude_pairs: Iterable[tuple[int, int]] | None = None,
    block_rows: int | None = None,
) -> LazyCompatibility:
    """Compatibility without the full matrix: row blocks on demand, and top-k.

    Same parameters and errors as :func:`compatibility`; validation and
    encoding happen here, the scores only when rows are asked for.

    Examples
    --------
    >>> cfg = {"criteria": [{"name": "skills", "kind": "skill_overlap"}]}
    >>> lazy = lazy_compatibility([{"skills": ["a", "b"]}, {"skills": ["b"]}],
    ...                           [{"skills": ["b"]}], cfg, block_rows=1)
    >>> lazy.shape, lazy.dtype
    ((2, 1), dtype('float32'))
    >>> lazy.rows(0, 2)
    array([[0.5],
           [1. ]], dtype=float32)
    """
    engine = Engine(mentees, mentors, config, weights=weights, exclude_pairs=exclude_pairs)
    return LazyCompatibility(engine, block_rows)


def explain(
    compat: Compatibility | LazyCompatibility, mentee: object, mentor: object
) -> list[Explanation]:
    """Explain chosen pairs ``(mentee[k], mentor[k])``, vectorized over the pairs.

    Parameters
    ----------
    compat : Compatibility or LazyCompatibility
    mentee, mentor : int or array of int
        Row and column indices of the pairs (same length).

    Returns
    -------
    list of Explanation
        One per pair: ``score``, ``breakdown`` (normalized weights;
        contributions sum to the score), ``reasons``, ``allowed``,
        ``blocked_by``.

    Examples
    --------
    >>> cfg = {"criteria": [{"name": "skills", "kind": "skill_overlap"}]}
    >>> c = compatibility([{"skills": ["AI", "sql"]}], [{"skills": ["retail", "SQL"]}], cfg)
    >>> e = explain(c, 0, 0)[0]
    >>> e.score, e.reasons
    (0.5, ['Mentor offers 1 of the 2 skills the mentee wants: sql'])
    >>> e.breakdown
    [{'criterion': 'skills', 'weight': 1.0, 'similarity': 0.5, 'contribution': 0.5}]
    """
    return explain_pairs(compat.engine, mentee, mentor)

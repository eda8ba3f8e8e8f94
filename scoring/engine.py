"""The scoring engine: one cohort encoded once, scored in row blocks.

The score of a pair is the weighted mean of its criteria similarities,
``sum_c w_c * S_c / sum_c w_c``, in float32 and clipped to [0, 1] against
rounding. Weights come from the config or, per call, from ``weights`` (learned
weights); a required criterion with weight 0 only constrains. If every weight
is 0 (a config of weight-0 required criteria, or learned weights that are all
0), all criteria count equally, so that a program stating only constraints
still gets a meaningful ranking.

Per row block the engine runs one matrix product ``left[rows] @ rt`` into the
output (every foldable criterion, weights folded into ``left``), adds the few
criteria that cannot be folded in place, and builds the ``allowed`` block from
the required criteria (table lookups for categories and other low-cardinality
values), participants' ``exclude`` lists (either direction), self-pairs (same
``external_id`` on both sides), inactive participants (``active: false``:
never allowed) and ``exclude_pairs``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from scoring.config import _fmt, validate_config
from scoring.criteria import Criterion, build_criterion
from scoring.encode import encode_side
from scoring.errors import ConfigError, ScoringError
from scoring.limits import finite_number

__all__ = ["Engine"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

#: Elements of one row block (float32: 16 MB).
BLOCK_ELEMENTS = 1 << 22
#: Fold through a sparse product when at most this share of ``left`` is nonzero.
SPARSE_DENSITY = 0.25
#: At most this many worker threads over row blocks.
MAX_THREADS = 2


def _resolve_weights(cfg: Mapping[str, Any], weights: Mapping[str, float] | None) -> F64:
    raw = np.array([c["weight"] for c in cfg["criteria"]], dtype=np.float64)
    if weights is None:
        return raw
    if not isinstance(weights, Mapping):
        raise ConfigError(
            {"weights": [f"expected a mapping of criterion name to weight, got {weights!r}"]}
        )
    names = [c["name"] for c in cfg["criteria"]]
    errors: dict[str, list[str]] = {}
    for name, w in weights.items():
        if name not in names:
            errors[f"weights.{name}"] = [
                f"unknown criterion {name!r}; expected one of: {', '.join(names)}"
            ]
        elif (number := finite_number(w)) is None or number < 0:
            errors[f"weights.{name}"] = [f"expected a finite number >= 0, got {_fmt(w)}"]
        else:
            raw[names.index(name)] = number
    if errors:
        raise ConfigError(errors)
    return raw


class Engine:
    """A validated, encoded cohort that computes score and allowed blocks.

    Internal: use :func:`scoring.compatibility`, :func:`scoring.lazy_compatibility`
    or :func:`scoring.recommend`.
    """

    def __init__(
        self,
        mentees: Sequence[Any],
        mentors: Sequence[Any],
        config: object,
        *,
        weights: Mapping[str, float] | None = None,
        exclude_pairs: Iterable[tuple[int, int]] | None = None,
    ) -> None:
        self.config = validate_config(config)
        self.a = encode_side(mentees, self.config, "mentees")
        self.b = encode_side(mentors, self.config, "mentors")
        self.shape = (self.a.n, self.b.n)
        self.criteria: list[Criterion] = [
            build_criterion(c, self.a, self.b, self.config) for c in self.config["criteria"]
        ]
        self.names = tuple(c.name for c in self.criteria)
        self.raw_weights = _resolve_weights(self.config, weights)
        total = float(self.raw_weights.sum())
        n_crit = len(self.criteria)
        self.weights = self.raw_weights / total if total > 0 else np.full(n_crit, 1.0 / n_crit)
        self.required = [c for c in self.criteria if c.required]
        self._all_active = bool(self.a.active.all() and self.b.active.all())
        self._ex_i, self._ex_j = self._exclusions(exclude_pairs)
        self._folded: tuple[F32, F32] | None = None
        self._rest: list[tuple[Criterion, np.float32]] = []
        self._fold_ready = False

    # ----------------------------------------------------------------- exclusions
    def _exclusions(self, exclude_pairs: Iterable[tuple[int, int]] | None) -> tuple[I64, I64]:
        a, b = self.a, self.b
        idx_a = {x: i for i, x in enumerate(a.ids) if x is not None}
        idx_b = {x: j for j, x in enumerate(b.ids) if x is not None}
        pairs: list[tuple[int, int]] = [(i, idx_b[x]) for x, i in idx_a.items() if x in idx_b]
        pairs += [(i, idx_b[x]) for i, ex in enumerate(a.exclude) for x in ex if x in idx_b]
        pairs += [(idx_a[x], j) for j, ex in enumerate(b.exclude) for x in ex if x in idx_a]
        ij = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        if exclude_pairs is not None:
            try:
                extra = np.asarray(list(exclude_pairs))
            except TypeError as exc:
                raise ScoringError(
                    f"exclude_pairs: expected (mentee index, mentor index) pairs: {exc}"
                ) from None
            if extra.size == 0:
                extra = np.zeros((0, 2), dtype=np.int64)
            if extra.ndim != 2 or extra.shape[1] != 2 or not np.issubdtype(extra.dtype, np.integer):
                raise ScoringError(
                    "exclude_pairs: expected (mentee index, mentor index) integer pairs, "
                    f"got an array of shape {extra.shape} and dtype {extra.dtype}"
                )
            for axis, (side, n) in enumerate((("mentee", a.n), ("mentor", b.n))):
                bad = np.flatnonzero((extra[:, axis] < 0) | (extra[:, axis] >= n))
                if len(bad):
                    k = int(bad[0])
                    raise ScoringError(
                        f"exclude_pairs[{k}]: {side} index {int(extra[k, axis])} "
                        f"out of range [0, {n})"
                    )
            ij = np.vstack([ij, extra.astype(np.int64)])
        order = np.lexsort((ij[:, 1], ij[:, 0]))
        return ij[order, 0].copy(), ij[order, 1].copy()

    def excluded(self, i: I64, j: I64) -> Bool:
        """Whether each pair ``(i[k], j[k])`` is excluded (lists, self-pairs, given pairs)."""
        m = self.b.n
        return np.isin(i * m + j, self._ex_i * m + self._ex_j)

    # ----------------------------------------------------------------- blocks
    def default_block_rows(self) -> int:
        return max(1, min(self.a.n, BLOCK_ELEMENTS // self.b.n))

    def _fold(self) -> tuple[F32 | sp.csr_array, F32] | None:
        if not self._fold_ready:
            for c in self.required:
                c.factors()  # build the cached tables before any worker thread reads them
            lefts: list[F32] = []
            rts: list[F32] = []
            rest: list[tuple[Criterion, np.float32]] = []
            for c, w in zip(self.criteria, self.weights, strict=True):
                if w == 0:
                    continue
                f = c.factors()
                if f is None:
                    rest.append((c, np.float32(w)))
                else:
                    lefts.append(f[0] * np.float32(w))
                    rts.append(f[1])
            self._rest = rest
            self._folded = None
            if lefts:
                left = np.hstack(lefts)
                rt = np.ascontiguousarray(np.vstack(rts))
                # One-hot profiles, skills and texts make ``left`` very sparse: a CSR
                # product costs nnz x n_mentors instead of k x n_mentors.
                if np.count_nonzero(left) < SPARSE_DENSITY * left.size:
                    self._folded = (sp.csr_array(left), rt)
                else:
                    self._folded = (np.ascontiguousarray(left), rt)
            self._fold_ready = True
        return self._folded

    def threads(self) -> int:
        """Worker threads for row blocks: only when no BLAS call would oversubscribe."""
        folded = self._fold()
        if folded is not None and not sp.issparse(folded[0]):
            return 1
        return max(1, min(MAX_THREADS, os.cpu_count() or 1))

    def scores_into(self, start: int, stop: int, out: F32) -> None:
        """Write score rows ``start:stop`` into ``out`` (shape ``(stop-start, n_mentors)``)."""
        folded = self._fold()
        if folded is None:
            out.fill(0)
        elif sp.issparse(folded[0]):
            np.copyto(out, folded[0][start:stop] @ folded[1])
        else:
            np.matmul(folded[0][start:stop], folded[1], out=out)
        if self._rest:
            rows = np.arange(start, stop, dtype=np.int64)
            cols = np.arange(self.b.n, dtype=np.int64)
            for c, w in self._rest:
                blk = c.sim(rows, cols)
                blk *= w
                out += blk
        np.minimum(out, np.float32(1), out=out)

    def allowed_into(self, start: int, stop: int, out: Bool) -> None:
        """Write allowed rows ``start:stop`` into ``out``."""
        if self.required:
            np.copyto(out, self.required[0].positive(start, stop))
            for c in self.required[1:]:
                out &= c.positive(start, stop)
        else:
            out.fill(True)
        if not self._all_active:
            out[~self.a.active[start:stop]] = False
            out[:, ~self.b.active] = False
        lo, hi = np.searchsorted(self._ex_i, [start, stop])
        out[self._ex_i[lo:hi] - start, self._ex_j[lo:hi]] = False

    def rows(self, start: int, stop: int, block_rows: int | None = None) -> tuple[F32, Bool]:
        """Scores and allowed mask of mentees ``start:stop`` (computed block by block)."""
        start, stop = _check_range(start, stop, self.a.n)
        scores = np.empty((stop - start, self.b.n), dtype=np.float32)
        allowed = np.empty((stop - start, self.b.n), dtype=bool)
        self.fill(start, stop, block_rows, scores, allowed)
        return scores, allowed

    def fill(
        self,
        start: int,
        stop: int,
        block_rows: int | None,
        scores: F32 | None,
        allowed: Bool | None,
    ) -> None:
        """Fill ``scores`` and/or ``allowed`` (rows ``start:stop``) block by block."""
        step = block_rows or self.default_block_rows()

        def block(s: int) -> None:
            e = min(stop, s + step)
            if scores is not None:
                self.scores_into(s, e, scores[s - start : e - start])
            if allowed is not None:
                self.allowed_into(s, e, allowed[s - start : e - start])

        self.for_blocks(block, range(start, stop, step))

    def for_blocks(self, fn: Callable[[int], None], starts: range) -> None:
        """Run ``fn(start)`` for every block start, on worker threads when useful.

        NumPy's element-wise kernels and SciPy's sparse products release the
        GIL, so two threads keep both cores busy outside BLAS.
        """
        workers = min(self.threads(), len(starts))
        if workers <= 1:
            for s in starts:
                fn(s)
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(fn, s) for s in starts]:
                future.result()

    # ----------------------------------------------------------------- pairs
    def pair_sims(self, i: I64, j: I64) -> F64:
        """Similarities of chosen pairs, shape ``(len(i), n_criteria)``."""
        return np.column_stack([c.pair_sim(i, j) for c in self.criteria])

    def pair_scores(self, i: I64, j: I64) -> tuple[F64, F64, Bool]:
        """``(sims, scores, allowed)`` of chosen pairs, without any matrix."""
        sims = self.pair_sims(i, j)
        scores = np.clip(sims @ self.weights, 0.0, 1.0)
        allowed = self.a.active[i] & self.b.active[j] & ~self.excluded(i, j)
        for k, c in enumerate(self.criteria):
            if c.required:
                allowed &= sims[:, k] > 0
        return sims, scores, allowed


def _check_range(start: int, stop: int, n: int) -> tuple[int, int]:
    if not 0 <= start <= n:
        raise IndexError(f"start {start} out of range [0, {n}]")
    stop = min(stop, n)
    if stop < start:
        raise IndexError(f"stop {stop} is before start {start}")
    return start, stop


def as_index(value: object, n: int, what: str) -> I64:
    """Validate an index or index array against ``n``."""
    arr = np.atleast_1d(np.asarray(value))
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ScoringError(f"{what}: expected integer indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64).reshape(-1)
    bad = np.flatnonzero((arr < 0) | (arr >= n))
    if len(bad):
        raise ScoringError(f"{what}: index {int(arr[bad[0]])} out of range [0, {n})")
    return arr

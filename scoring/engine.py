"""The scoring engine: one cohort encoded once, scored in row blocks.

The score of a pair is the weighted mean of its criteria similarities,
``sum_c w_c * S_c / sum_c w_c``, in float32 and clipped to [0, 1] against
rounding. Weights come from the config or, per call, from ``weights`` (learned
weights); a required criterion with weight 0 only constrains. If every weight
is 0 (a config of weight-0 required criteria, or learned weights that are all
0), all criteria count equally, so that a program stating only constraints
still gets a meaningful ranking.

The engine runs one matrix product ``left[rows] @ rt`` into the output (every
foldable criterion, weights folded into ``left``), tile by tile of mentor
columns so that wide cohorts stay in cache, adds the few criteria that cannot
be folded in place, and builds the ``allowed`` mask from the required criteria
(table lookups for categories and other low-cardinality values, tiled sparse
products for skills and texts), participants' ``exclude`` lists (either
direction), self-pairs (same ``external_id`` on both sides), inactive
participants (``active: false``: never allowed) and ``exclude_pairs``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from scoring.config import validate_config
from scoring.criteria import Criterion, build_criterion
from scoring.encode import encode_side
from scoring.errors import ConfigError, ScoringError
from scoring.limits import finite_number
from scoring.validation import fmt

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
#: Mentor columns per tile of the column-tiled products (about; see ``_Tiling``).
TILE_COLUMNS = 2048

T = TypeVar("T")


@dataclass(frozen=True)
class _Tiling:
    """Column tiles of the mentor axis, in equal shares for the worker threads.

    A sparse product ``left @ rt`` streams one row of ``rt`` per nonzero of
    ``left``. At 100k mentors the folded ``rt`` is ~120 MB, so every row block
    read it from RAM again. Cut into contiguous column tiles (``k x ~2048``, a
    few MB), a tile stays in cache while every row of a call is multiplied
    against it, each worker streams only its own share of ``rt``, and the
    temporaries are tile-sized. Every element still sums the same terms in the
    same order as the untiled product: the same bits.
    """

    bounds: tuple[tuple[int, int], ...]  # (c0, c1) of each tile
    groups: tuple[tuple[int, ...], ...]  # tile indices of each worker

    @classmethod
    def of(cls, n: int, workers: int) -> _Tiling:
        # About TILE_COLUMNS wide, and as many tiles as a multiple of ``workers``.
        count = -(-n // TILE_COLUMNS)
        count = max(1, min(n, -(-count // workers) * workers))
        bounds = tuple(pairwise(n * k // count for k in range(count + 1)))
        share = -(-count // workers)
        groups = tuple(tuple(range(g, min(count, g + share))) for g in range(0, count, share))
        return cls(bounds, groups)

    def product(self, left: F32, rts: Sequence[F32]) -> _Product:
        """``left @ vstack(rts)``, tiled straight from the parts (no full ``rt`` copy)."""
        tiles = tuple(np.vstack([rt[:, c0:c1] for rt in rts]) for c0, c1 in self.bounds)
        return _Product(sp.csr_array(left), tiles)


@dataclass(frozen=True)
class _Product:
    """``left @ rt`` as a CSR ``left`` (n_mentees x k) and ``rt`` in column tiles."""

    left: sp.csr_array
    tiles: tuple[F32, ...]


def _cpu_threads() -> int:
    return max(1, min(MAX_THREADS, os.cpu_count() or 1))


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
            errors[f"weights.{name}"] = [f"expected a finite number >= 0, got {fmt(w)}"]
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
        self._fold_lock = threading.Lock()
        self._fold_ready = False
        self._tiling = _Tiling.of(self.b.n, _cpu_threads())
        # Scores: foldable criteria as one product (sparse and tiled, or dense for
        # BLAS), plus the criteria that cannot be folded.
        self._product: _Product | None = None
        self._dense: tuple[F32, F32] | None = None
        self._rest: list[tuple[Criterion, np.float32]] = []
        # Allowed: required criteria computed tile by tile (a sparse product, or
        # their own similarity), and those that are whole-row table lookups.
        self._masks: list[tuple[Criterion, _Product | None]] = []
        self._lookups: list[Criterion] = []

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

    def _fold(self) -> None:
        """Build the products and tables once, before any worker thread reads them."""
        with self._fold_lock:
            if self._fold_ready:
                return
            lefts: list[F32] = []
            rts: list[F32] = []
            for c, w in zip(self.criteria, self.weights, strict=True):
                if w == 0:
                    continue
                f = c.factors()
                if f is None:
                    self._rest.append((c, np.float32(w)))
                else:
                    lefts.append(f[0] * np.float32(w))
                    rts.append(f[1])
            if lefts:
                left = np.hstack(lefts)
                # One-hot profiles, skills and texts make ``left`` very sparse: a CSR
                # product costs nnz x n_mentors instead of k x n_mentors.
                if np.count_nonzero(left) < SPARSE_DENSITY * left.size:
                    self._product = self._tiling.product(left, rts)
                else:
                    self._dense = (np.ascontiguousarray(left), np.vstack(rts))
            for c in self.required:
                if c.mask_is_lookup():
                    self._lookups.append(c)
                else:
                    f = c.mask_factors()
                    product = None if f is None else self._tiling.product(f[0], [f[1]])
                    self._masks.append((c, product))
            self._fold_ready = True

    def threads(self) -> int:
        """Worker threads for blocks and tiles: only when no BLAS call would oversubscribe."""
        self._fold()
        return 1 if self._dense is not None else _cpu_threads()

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
        self._fold()
        step = block_rows or self.default_block_rows()
        blocks = [(s, min(stop, s + step)) for s in range(start, stop, step)]
        if scores is not None:
            if self._dense is not None:
                self.for_blocks(lambda b: self._dense_scores(start, b, scores), blocks)
            else:
                self._tiled_scores(start, blocks, scores)
        if allowed is not None:
            self._allowed(start, stop, blocks, allowed)

    def _dense_scores(self, first: int, block: tuple[int, int], scores: F32) -> None:
        assert self._dense is not None
        start, stop = block
        out = scores[start - first : stop - first]
        np.matmul(self._dense[0][start:stop], self._dense[1], out=out)
        if self._rest:
            rows = np.arange(start, stop, dtype=np.int64)
            cols = np.arange(self.b.n, dtype=np.int64)
            for c, w in self._rest:
                blk = c.sim(rows, cols)
                blk *= w
                out += blk
        np.minimum(out, np.float32(1), out=out)

    def _tiled_scores(self, start: int, blocks: list[tuple[int, int]], out: F32) -> None:
        product = self._product
        lefts = [product.left[s:e] for s, e in blocks] if product is not None else []

        def tile(k: int, b: int, c0: int, c1: int) -> None:
            s, e = blocks[b]
            if product is not None:
                part = lefts[b] @ product.tiles[k]
            else:
                part = np.zeros((e - s, c1 - c0), dtype=np.float32)
            if self._rest:
                rows = np.arange(s, e, dtype=np.int64)
                cols = np.arange(c0, c1, dtype=np.int64)
                for c, w in self._rest:
                    sim = c.sim(rows, cols)
                    sim *= w
                    part += sim
            np.minimum(part, np.float32(1), out=out[s - start : e - start, c0:c1])

        self._by_tiles(len(blocks), tile)

    def _allowed(self, start: int, stop: int, blocks: list[tuple[int, int]], out: Bool) -> None:
        masks, lookups = self._masks, self._lookups
        if masks:
            lefts = [[p.left[s:e] for s, e in blocks] if p else [] for _, p in masks]

            def tile(k: int, b: int, c0: int, c1: int) -> None:
                s, e = blocks[b]
                view = out[s - start : e - start, c0:c1]
                for m, (c, p) in enumerate(masks):
                    mask = (lefts[m][b] @ p.tiles[k]) > 0 if p else c.positive(s, e, c0, c1)
                    if m == 0:
                        np.copyto(view, mask)
                    else:
                        view &= mask

            self._by_tiles(len(blocks), tile)

        def block(b: tuple[int, int]) -> None:
            s, e = b
            view = out[s - start : e - start]
            if not masks and not lookups:
                view.fill(True)
            for m, c in enumerate(lookups):
                if m == 0 and not masks:
                    np.copyto(view, c.positive(s, e, 0, self.b.n))
                else:
                    view &= c.positive(s, e, 0, self.b.n)
            if not self._all_active:
                view[~self.a.active[s:e]] = False
                view[:, ~self.b.active] = False

        self.for_blocks(block, blocks)
        lo, hi = np.searchsorted(self._ex_i, [start, stop])
        out[self._ex_i[lo:hi] - start, self._ex_j[lo:hi]] = False

    def _by_tiles(self, n_blocks: int, tile: Callable[[int, int, int, int], None]) -> None:
        """Run ``tile(k, b, c0, c1)`` for every column tile ``k`` and row block ``b``.

        Each worker thread takes its share of the tiles; the tile is the outer
        loop, so all row blocks of the call use it while it is in cache.
        """

        def share(group: tuple[int, ...]) -> None:
            for k in group:
                c0, c1 = self._tiling.bounds[k]
                for b in range(n_blocks):
                    tile(k, b, c0, c1)

        self.for_blocks(share, self._tiling.groups)

    def for_blocks(self, fn: Callable[[T], None], items: Sequence[T]) -> None:
        """Run ``fn(item)`` for every item (row block, tile share), on worker threads when useful.

        NumPy's element-wise kernels and SciPy's sparse products release the
        GIL, so two threads keep both cores busy outside BLAS.
        """
        workers = min(self.threads(), len(items))
        if workers <= 1:
            for item in items:
                fn(item)
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(fn, item) for item in items]:
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

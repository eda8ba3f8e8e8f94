"""Shared helpers for the matcher tests: a lazy wrapper and a brute-force oracle."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray


class LazyArray:
    """The lazy-matrix protocol over an in-memory array (counts the rows served)."""

    def __init__(self, scores: NDArray[Any], allowed: NDArray[np.bool_] | None = None) -> None:
        self._s = np.asarray(scores, dtype=np.float32)
        self._a = np.ones(self._s.shape, bool) if allowed is None else allowed
        self.shape = self._s.shape
        self.dtype = self._s.dtype
        self.rows_served = 0

    def rows(self, start: int, stop: int) -> NDArray[np.float32]:
        self.rows_served += stop - start
        return self._s[start:stop].copy()

    def allowed_rows(self, start: int, stop: int) -> NDArray[np.bool_]:
        return self._a[start:stop].copy()


def all_matchings(
    usable: NDArray[np.bool_], cap: NDArray[np.int64]
) -> Iterator[tuple[tuple[int, int], ...]]:
    """Every b-matching on the usable pairs of a tiny problem."""
    n, m = usable.shape
    choices = [[-1, *np.flatnonzero(usable[i]).tolist()] for i in range(n)]
    for combo in itertools.product(*choices):
        load = np.bincount([j for j in combo if j >= 0], minlength=m)
        if (load <= cap).all():
            yield tuple((i, j) for i, j in enumerate(combo) if j >= 0)


def brute_blocking_pairs(s, usable, cap, pairs) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    """The blocking pairs, by plain loops (tie-broken preferences, lower index wins)."""
    n, m = s.shape
    mate = {i: j for i, j in pairs}
    held: dict[int, list[int]] = {j: [] for j in range(m)}
    for i, j in pairs:
        held[j].append(i)
    found = []
    for i in range(n):
        for j in range(m):
            if not usable[i, j] or mate.get(i) == j or cap[j] == 0:
                continue
            cur = mate.get(i)
            mentee_wants = cur is None or (s[i, j], -j) > (s[i, cur], -cur)
            if len(held[j]) < cap[j]:
                mentor_wants = True
            else:
                worst = min(held[j], key=lambda x: (s[x, j], -x))
                mentor_wants = (s[i, j], -i) > (s[worst, j], -worst)
            if mentee_wants and mentor_wants:
                found.append((i, j))
    return found


def brute_blocking(s, usable, cap, pairs) -> int:  # type: ignore[no-untyped-def]
    """Count blocking pairs with plain loops (see :func:`brute_blocking_pairs`)."""
    return len(brute_blocking_pairs(s, usable, cap, pairs))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)

"""Bottleneck search for the ``fair`` objective."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_array
from scipy.sparse.csgraph import maximum_bipartite_matching

__all__ = ["best_bottleneck", "max_cardinality"]


def max_cardinality(use: NDArray[np.bool_], cap: NDArray[np.int64]) -> int:
    """Size of a maximum b-matching on the usable pairs (Hopcroft-Karp on slots)."""
    n, _ = use.shape
    reps = np.minimum(cap, use.sum(axis=0))
    if reps.sum() == 0 or n == 0:
        return 0
    col_of_slot = np.repeat(np.arange(cap.size), reps)
    graph = csr_array(use[:, col_of_slot].astype(np.int8))
    match = maximum_bipartite_matching(graph, perm_type="column")
    return int(np.count_nonzero(match >= 0))


def best_bottleneck(s: NDArray[Any], use: NDArray[np.bool_], cap: NDArray[np.int64]) -> float:
    """Largest threshold t such that the pairs with ``s >= t`` still reach max coverage.

    Binary search over the sorted distinct usable scores, each step a
    maximum-cardinality check; ``-inf`` when nothing can be matched.
    """
    target = max_cardinality(use, cap)
    if target == 0:
        return -np.inf
    values = np.unique(s[use])
    lo, hi = 0, values.size - 1  # values[lo] is always feasible
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if max_cardinality(use & (s >= values[mid]), cap) == target:
            lo = mid
        else:
            hi = mid - 1
    return float(values[lo])

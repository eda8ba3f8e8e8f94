"""Run independent row blocks on every core: NumPy releases the GIL in its kernels."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["parallel_map"]

T = TypeVar("T")


def _workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def parallel_map(fn: Callable[[int, int], T], ranges: Iterable[tuple[int, int]]) -> Iterator[T]:
    """``fn(start, stop)`` for each range, in order, on up to one thread per core.

    At most ``2 * workers`` blocks are in flight, so memory stays a few blocks.
    """
    items = list(ranges)
    workers = _workers()
    if workers == 1 or len(items) <= 1:
        for a, b in items:
            yield fn(a, b)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = []
        for a, b in items:
            pending.append(pool.submit(fn, a, b))
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()

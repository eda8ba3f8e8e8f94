"""find_blocking_pairs against a brute-force oracle, on both of its per-block paths.

Each row block is tested either densely or only on its candidate pairs (a score at
least the mentee's current one), whichever is cheaper; both must give exactly the
oracle's pairs, in order, for any matching (not only optimal ones), with ties,
unmatched mentees, zero capacities, masks, ``min_score`` and lazy sources, and
whatever the block size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matcher
import matcher._stable as stable_mod
from matcher import Assignment
from tests.matcher.conftest import LazyArray, brute_blocking_pairs

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def _blocks(share: float, block: int) -> Iterator[None]:
    saved = stable_mod.DENSE_SHARE, stable_mod._BLOCKING_BLOCK
    stable_mod.DENSE_SHARE, stable_mod._BLOCKING_BLOCK = share, block
    try:
        yield
    finally:
        stable_mod.DENSE_SHARE, stable_mod._BLOCKING_BLOCK = saved


def _matching(s: np.ndarray, pairs: list[tuple[int, int]]) -> Assignment:
    pairs = sorted(pairs)
    mentee = np.array([i for i, _ in pairs], dtype=np.int64)
    mentor = np.array([j for _, j in pairs], dtype=np.int64)
    score = s[mentee, mentor].astype(np.float64)
    unmatched = np.setdiff1d(np.arange(s.shape[0]), mentee).astype(np.int64)
    return Assignment(
        mentee=mentee,
        mentor=mentor,
        score=score,
        total=float(score.sum()),
        unmatched=unmatched,
        reasons=("capacity_exhausted",) * unmatched.size,
        objective="total",
        optimal=False,
        gap=0.0,
        method="test",
        pinned=np.zeros(mentee.size, np.bool_),
    )


@st.composite
def cases(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 14))
    m = draw(st.integers(1, 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    levels = draw(st.sampled_from([2, 4, 1000]))  # few levels = many ties
    s = (np.round(rng.random((n, m)) * levels) / levels).astype(
        draw(st.sampled_from([np.float32, np.float64]))
    )
    allowed = rng.random((n, m)) < draw(st.sampled_from([0.5, 1.0]))
    cap = rng.integers(0, 3, m)
    min_score = draw(st.sampled_from([None, 0.3]))
    usable = allowed & (s >= min_score) if min_score is not None else allowed.copy()
    # Any matching on usable pairs within capacity, leaving some mentees unmatched.
    pairs, load = [], np.zeros(m, int)
    for i in rng.permutation(n).tolist():
        js = np.flatnonzero(usable[i] & (load < cap))
        if js.size and rng.random() < 0.8:
            j = int(rng.choice(js))
            pairs.append((i, j))
            load[j] += 1
    return {
        "s": s,
        "allowed": allowed,
        "cap": cap,
        "min_score": min_score,
        "usable": usable,
        "pairs": pairs,
        "lazy": draw(st.booleans()),
        # 0: every block dense; 1: every block through its candidates; else the default.
        "share": draw(st.sampled_from([0.0, 1.0, stable_mod.DENSE_SHARE])),
        "block": draw(st.sampled_from([1, 7, 1 << 22])),  # pairs per row block
    }


@SETTINGS
@given(cases())
def test_find_blocking_pairs_matches_brute_force(case: dict[str, Any]) -> None:
    s, allowed, cap = case["s"], case["allowed"], case["cap"]
    if case["lazy"]:
        scores: Any = LazyArray(s, allowed)
        s, allowed = scores._s, None  # the oracle sees what the matcher sees (float32)
        usable = (
            case["allowed"] & (s >= case["min_score"]) if case["min_score"] else case["allowed"]
        )
    else:
        scores, usable = s, case["usable"]
    a = _matching(s, case["pairs"])
    want = brute_blocking_pairs(s, usable, cap, case["pairs"])
    with _blocks(case["share"], case["block"]):
        i, j = matcher.find_blocking_pairs(
            scores, a, capacity=cap, allowed=allowed, min_score=case["min_score"]
        )
    assert i.dtype == np.int64
    assert j.dtype == np.int64
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == want


def test_unmatched_rows_take_the_dense_path_and_agree() -> None:
    rng = np.random.default_rng(7)
    s = rng.random((300, 40)).astype(np.float32)
    cap = np.ones(40, np.int64)
    a = matcher.assign(s, capacity=cap)  # 260 mentees stay unmatched: they want everyone
    got = []
    for share in (0.0, 1.0, stable_mod.DENSE_SHARE):
        with _blocks(share, 64):
            got.append([x.tolist() for x in matcher.find_blocking_pairs(s, a, capacity=cap)])
    assert got[0] == got[1] == got[2]
    assert len(got[0][0]) == matcher.blocking_pairs(s, a, capacity=cap) > 0


def test_no_mentors_or_no_mentees() -> None:
    for shape in ((3, 0), (0, 3)):
        s = np.zeros(shape, np.float32)
        i, j = matcher.find_blocking_pairs(s, matcher.assign(s))
        assert i.size == j.size == 0

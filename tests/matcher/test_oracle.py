"""Every objective against a brute-force enumeration of all matchings (n <= 5)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matcher
from tests.matcher.conftest import all_matchings, brute_blocking

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(1, 5))
    m = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    levels = draw(st.sampled_from([3, 5, 100]))  # few levels = many ties
    s = np.round(rng.random((n, m)) * levels) / levels
    if draw(st.booleans()):
        s = s - 0.2  # a few negative scores
    allowed = rng.random((n, m)) < draw(st.sampled_from([0.5, 0.8, 1.0]))
    cap = rng.integers(0, 3, m)
    min_score = draw(st.sampled_from([None, 0.3, 0.6]))
    pins = []
    load = np.zeros(m, int)
    for i in range(n):
        if rng.random() < 0.2:
            js = np.flatnonzero(allowed[i] & (load < cap))
            if js.size:
                j = int(js[0])
                pins.append((i, j))
                load[j] += 1
    dense_limit = draw(st.sampled_from([None, 1]))  # 1 forces the sparse path
    return s, allowed, cap, min_score, pins, dense_limit


def _free_problem(s, allowed, cap, min_score, pins, lo_floor):  # type: ignore[no-untyped-def]
    usable = allowed.copy()
    lo = -np.inf if min_score is None else min_score
    lo = max(lo, lo_floor)
    usable &= s >= lo
    rest = cap - np.bincount([j for _, j in pins], minlength=cap.size).astype(int)
    for i, _ in pins:
        usable[i] = False
    return usable, rest


def _check_common(a, s, n, pins) -> None:  # type: ignore[no-untyped-def]
    assert np.all(np.diff(a.mentee) > 0)
    np.testing.assert_allclose(a.score, s[a.mentee, a.mentor])
    assert set(pins) <= set(zip(a.mentee.tolist(), a.mentor.tolist(), strict=True))
    assert sorted(a.mentee.tolist() + a.unmatched.tolist()) == list(range(n))
    assert len(a.reasons) == a.unmatched.size


@SETTINGS
@given(problems())
def test_total_matches_brute_force(p) -> None:  # type: ignore[no-untyped-def]
    s, allowed, cap, min_score, pins, dense_limit = p
    a = matcher.assign(
        s, capacity=cap, allowed=allowed, min_score=min_score, pins=pins, dense_limit=dense_limit
    )
    usable, rest = _free_problem(s, allowed, cap, min_score, pins, 0.0)
    best = max(sum(s[i, j] for i, j in mt) for mt in all_matchings(usable, rest))
    pinned = sum(s[i, j] for i, j in pins)
    assert abs(a.total - (best + pinned)) < 1e-9
    assert a.optimal
    assert a.gap == 0.0
    _check_common(a, s, s.shape[0], pins)
    load = np.bincount(a.mentor, minlength=cap.size)
    assert (load <= cap).all()
    assert allowed[a.mentee, a.mentor].all()


@SETTINGS
@given(problems())
def test_coverage_matches_brute_force(p) -> None:  # type: ignore[no-untyped-def]
    s, allowed, cap, min_score, pins, dense_limit = p
    a = matcher.assign(
        s,
        capacity=cap,
        allowed=allowed,
        min_score=min_score,
        pins=pins,
        objective="coverage",
        dense_limit=dense_limit,
    )
    usable, rest = _free_problem(s, allowed, cap, min_score, pins, -np.inf)
    best = max(
        (len(mt), round(sum(s[i, j] for i, j in mt), 9)) for mt in all_matchings(usable, rest)
    )
    got_free = [(i, j) for i, j in zip(a.mentee, a.mentor, strict=True) if (i, j) not in pins]
    assert len(got_free) == best[0]
    assert abs(sum(s[i, j] for i, j in got_free) - best[1]) < 1e-9
    _check_common(a, s, s.shape[0], pins)


@SETTINGS
@given(problems())
def test_fair_matches_brute_force(p) -> None:  # type: ignore[no-untyped-def]
    s, allowed, cap, min_score, pins, _ = p
    a = matcher.assign(
        s, capacity=cap, allowed=allowed, min_score=min_score, pins=pins, objective="fair"
    )

    def key(mt):  # type: ignore[no-untyped-def]
        low = min((s[i, j] for i, j in mt), default=np.inf)
        return (len(mt), round(low, 9), round(sum(s[i, j] for i, j in mt), 9))

    usable, rest = _free_problem(s, allowed, cap, min_score, pins, -np.inf)
    best = max(key(mt) for mt in all_matchings(usable, rest))
    got = tuple((i, j) for i, j in zip(a.mentee, a.mentor, strict=True) if (i, j) not in pins)
    assert key(got) == best
    _check_common(a, s, s.shape[0], pins)


@SETTINGS
@given(problems())
def test_stable_has_no_blocking_pair_and_is_mentee_optimal(p) -> None:  # type: ignore[no-untyped-def]
    s, allowed, cap, min_score, _, _ = p
    a = matcher.assign(s, capacity=cap, allowed=allowed, min_score=min_score, objective="stable")
    usable, rest = _free_problem(s, allowed, cap, min_score, [], -np.inf)
    pairs = list(zip(a.mentee.tolist(), a.mentor.tolist(), strict=True))
    assert brute_blocking(s, usable, rest, pairs) == 0
    assert matcher.blocking_pairs(s, a, capacity=cap, allowed=allowed, min_score=min_score) == 0
    mine = dict(pairs)

    def rank(i, j):  # type: ignore[no-untyped-def]
        return (-np.inf, 0) if j is None else (s[i, j], -j)

    for mt in all_matchings(usable, rest):
        if brute_blocking(s, usable, rest, mt) == 0:
            other = dict(mt)
            for i in range(s.shape[0]):
                assert rank(i, mine.get(i)) >= rank(i, other.get(i))


@SETTINGS
@given(problems())
def test_blocking_pairs_counts_like_brute_force(p) -> None:  # type: ignore[no-untyped-def]
    s, allowed, cap, min_score, pins, _ = p
    a = matcher.assign(s, capacity=cap, allowed=allowed, min_score=min_score, pins=pins)
    usable, _ = _free_problem(s, allowed, cap, min_score, [], -np.inf)
    pairs = list(zip(a.mentee.tolist(), a.mentor.tolist(), strict=True))
    want = brute_blocking(s, usable, cap, pairs)
    assert matcher.blocking_pairs(s, a, capacity=cap, allowed=allowed, min_score=min_score) == want

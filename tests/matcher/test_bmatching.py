"""The b-matching of mentee_capacity and spread against brute force (every subset of pairs)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matcher
from tests.matcher.conftest import LazyArray

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(1, 4))
    m = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    levels = draw(st.sampled_from([3, 100]))
    s = np.round(rng.random((n, m)) * levels) / levels - draw(st.sampled_from([0.0, 0.2]))
    allowed = rng.random((n, m)) < draw(st.sampled_from([0.6, 1.0]))
    rcap = rng.integers(0, 4, n)
    ccap = rng.integers(0, 4, m)
    min_score = draw(st.sampled_from([None, 0.3]))
    pins = []
    rl, cl = np.zeros(n, int), np.zeros(m, int)
    for i, j in itertools.product(range(n), range(m)):
        if allowed[i, j] and rl[i] < rcap[i] and cl[j] < ccap[j] and rng.random() < 0.15:
            pins.append((i, j))
            rl[i] += 1
            cl[j] += 1
    return s, allowed, rcap, ccap, min_score, pins


def _matchings(s, allowed, rcap, ccap, min_score, pins, floor):  # type: ignore[no-untyped-def]
    """Every set of free pairs (each at most once) within both capacities."""
    lo = max(-np.inf if min_score is None else min_score, floor)
    n, m = s.shape
    free = [
        (i, j)
        for i, j in itertools.product(range(n), range(m))
        if allowed[i, j] and s[i, j] >= lo and (i, j) not in pins
    ]
    r0 = np.bincount([i for i, _ in pins], minlength=n)
    c0 = np.bincount([j for _, j in pins], minlength=m)
    for mask in itertools.product([False, True], repeat=len(free)):
        pairs = [p for p, x in zip(free, mask, strict=True) if x]
        r = r0 + np.bincount([i for i, _ in pairs], minlength=n)
        c = c0 + np.bincount([j for _, j in pairs], minlength=m)
        if (r <= rcap).all() and (c <= ccap).all():
            yield pairs


def _assign(p, **kw):  # type: ignore[no-untyped-def]
    s, allowed, rcap, ccap, min_score, pins = p
    return matcher.assign(
        s,
        capacity=ccap,
        mentee_capacity=rcap,
        allowed=allowed,
        min_score=min_score,
        pins=pins,
        **kw,
    )


def _check_common(a, p) -> None:  # type: ignore[no-untyped-def]
    s, allowed, rcap, ccap, _, pins = p
    pairs = list(zip(a.mentee.tolist(), a.mentor.tolist(), strict=True))
    assert len(set(pairs)) == len(pairs)  # no repeated pair
    assert pairs == sorted(pairs)
    assert set(pins) <= set(pairs)
    assert allowed[a.mentee, a.mentor].all()
    assert (np.bincount(a.mentee, minlength=rcap.size) <= rcap).all()
    assert (np.bincount(a.mentor, minlength=ccap.size) <= ccap).all()
    np.testing.assert_allclose(a.score, s[a.mentee, a.mentor])
    filled = np.bincount(a.mentee, minlength=rcap.size)
    if a.filled is not None:  # None when every mentee capacity is 1: today's path
        assert a.filled.tolist() == filled.tolist()
    assert a.unmatched.tolist() == np.flatnonzero(filled == 0).tolist()
    assert len(a.reasons) == a.unmatched.size


def _free(a, pins):  # type: ignore[no-untyped-def]
    return [
        (i, j)
        for i, j in zip(a.mentee.tolist(), a.mentor.tolist(), strict=True)
        if (i, j) not in pins
    ]


@SETTINGS
@given(problems())
def test_total_matches_brute_force(p) -> None:  # type: ignore[no-untyped-def]
    s, pins = p[0], p[5]
    a = _assign(p)
    best = max(sum(s[i, j] for i, j in mt) for mt in _matchings(*p, floor=0.0))
    assert sum(s[i, j] for i, j in _free(a, pins)) == pytest.approx(best, abs=1e-9)
    assert a.optimal
    _check_common(a, p)


def _coverage_key(s, pins):  # type: ignore[no-untyped-def]
    pinned = {i for i, _ in pins}

    def key(mt):  # type: ignore[no-untyped-def]
        firsts = len({i for i, _ in mt} - pinned)
        return (firsts, len(mt), round(sum(s[i, j] for i, j in mt), 9))

    return key


@SETTINGS
@given(problems())
def test_coverage_matches_brute_force(p) -> None:  # type: ignore[no-untyped-def]
    s, pins = p[0], p[5]
    a = _assign(p, objective="coverage")
    key = _coverage_key(s, pins)
    best = max(key(mt) for mt in _matchings(*p, floor=-np.inf))
    got = key(_free(a, pins))
    assert got[:2] == best[:2]
    assert got[2] == pytest.approx(best[2], abs=1e-7)
    _check_common(a, p)


@SETTINGS
@given(problems())
def test_fair_matches_brute_force(p) -> None:  # type: ignore[no-untyped-def]
    s, pins = p[0], p[5]
    a = _assign(p, objective="fair")
    cov = _coverage_key(s, pins)

    def key(mt):  # type: ignore[no-untyped-def]
        c = cov(mt)
        low = min((s[i, j] for i, j in mt), default=np.inf)
        return (c[0], c[1], round(low, 9), c[2])

    best = max(key(mt) for mt in _matchings(*p, floor=-np.inf))
    got = key(_free(a, pins))
    assert got[:3] == best[:3]
    assert got[3] == pytest.approx(best[3], abs=1e-7)
    _check_common(a, p)


def _blocking(s, use, rcap, ccap, pairs):  # type: ignore[no-untyped-def]
    """Pairwise blocking pairs by plain loops (ties: lower index preferred)."""
    n, m = s.shape
    mine = {i: [j for a, j in pairs if a == i] for i in range(n)}
    held = {j: [i for i, b in pairs if b == j] for j in range(m)}
    out = []
    for i, j in itertools.product(range(n), range(m)):
        if not use[i, j] or j in mine[i] or rcap[i] == 0 or ccap[j] == 0:
            continue
        wants_i = len(mine[i]) < rcap[i] or (s[i, j], -j) > min((s[i, x], -x) for x in mine[i])
        wants_j = len(held[j]) < ccap[j] or (s[i, j], -i) > min((s[x, j], -x) for x in held[j])
        if wants_i and wants_j:
            out.append((i, j))
    return out


@SETTINGS
@given(problems())
def test_stable_has_no_blocking_pair(p) -> None:  # type: ignore[no-untyped-def]
    s, allowed, rcap, ccap, min_score, _ = p
    q = (s, allowed, rcap, ccap, min_score, [])
    a = _assign(q, objective="stable")
    use = allowed & (s >= (-np.inf if min_score is None else min_score))
    pairs = list(zip(a.mentee.tolist(), a.mentor.tolist(), strict=True))
    assert _blocking(s, use, rcap, ccap, pairs) == []
    assert a.method == "deferred_acceptance"
    _check_common(a, q)


@SETTINGS
@given(problems(), st.sampled_from([0.5, 3.0]))
def test_spread_maximizes_score_plus_place_bonus(p, b) -> None:  # type: ignore[no-untyped-def]
    s, _, rcap, ccap, _, pins = p
    a = _assign(p, spread=b)

    def value(mt):  # type: ignore[no-untyped-def]
        every = list(pins) + list(mt)
        r = np.bincount([i for i, _ in every], minlength=rcap.size)
        c = np.bincount([j for _, j in every], minlength=ccap.size)
        bonus = sum(b / k for d in (*r, *c) for k in range(1, d + 1))
        return sum(s[i, j] for i, j in every) + bonus

    best = max(value(mt) for mt in _matchings(*p, floor=0.0))
    assert value(_free(a, pins)) == pytest.approx(best, abs=1e-7)
    plain = _assign(p)
    assert a.spread is not None
    assert a.spread.total_without == pytest.approx(plain.total)
    assert a.spread.total_given_up == pytest.approx(plain.total - a.total)
    assert a.spread.mentors_used == np.unique(a.mentor).size
    _check_common(a, p)


def test_spread_gives_every_mentor_a_first_mentee() -> None:
    # Mentor 0 is everyone's favourite; spread sends one mentee to each mentor.
    s = np.array([[1.0, 0.6, 0.5], [1.0, 0.55, 0.6], [0.95, 0.6, 0.55]])
    plain = matcher.assign(s, capacity=3)
    spread = matcher.assign(s, capacity=3, spread=1.0)
    assert np.unique(plain.mentor).tolist() == [0]
    assert np.unique(spread.mentor).tolist() == [0, 1, 2]
    assert spread.spread is not None
    assert spread.spread.mentors_used_without == 1
    assert spread.spread.mentors_used == 3
    assert spread.spread.total_given_up == pytest.approx(plain.total - spread.total)


@pytest.mark.parametrize("objective", ["total", "coverage", "fair", "stable"])
def test_mentee_capacity_one_is_todays_result(objective: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        s = np.round(rng.random((9, 6)) * 5) / 5
        allowed = rng.random((9, 6)) < 0.8
        cap = rng.integers(0, 3, 6)
        kw = dict(capacity=cap, allowed=allowed, min_score=0.2, objective=objective)
        a = matcher.assign(s, **kw)
        b = matcher.assign(s, mentee_capacity=1, **kw)
        c = matcher.assign(s, mentee_capacity=np.ones(9, int), **kw)
        for x in (b, c):
            assert np.array_equal(a.mentee, x.mentee)
            assert np.array_equal(a.mentor, x.mentor)
            assert a.total == x.total
            assert a.reasons == x.reasons
            assert a.method == x.method


@pytest.mark.parametrize("dense_limit", [None, 1])
def test_lazy_equals_dense_with_mentee_capacity(dense_limit: int | None) -> None:
    rng = np.random.default_rng(3)
    n, m = 200, 160
    a0, b0 = rng.standard_normal((n, 4)), rng.standard_normal((m, 4))
    s = np.clip(np.round((0.5 + 0.12 * (a0 @ b0.T)) * 40) / 40, 0, 1).astype(np.float32)
    allowed = rng.random((n, m)) < 0.8
    kw = dict(capacity=3, mentee_capacity=2, min_score=0.3, pins=[(0, 1), (0, 2)])
    lazy = matcher.assign(LazyArray(s, allowed), dense_limit=dense_limit, candidates=2, **kw)
    dense = matcher.assign(s, allowed=allowed, **kw)
    assert lazy.optimal
    assert dense.optimal
    assert lazy.total == pytest.approx(dense.total, abs=1e-4)
    assert lazy.unmatched.tolist() == dense.unmatched.tolist()
    assert lazy.reasons == dense.reasons
    # The global solve never scores less than two sequential one-mentor rounds.
    first = matcher.assign(s, allowed=allowed, capacity=3, min_score=0.3)
    left = 3 - np.bincount(first.mentor, minlength=m)
    allowed2 = allowed.copy()
    allowed2[first.mentee, first.mentor] = False
    second = matcher.assign(s, allowed=allowed2, capacity=left, min_score=0.3)
    free = matcher.assign(s, allowed=allowed, capacity=3, mentee_capacity=2, min_score=0.3)
    assert free.total >= first.total + second.total - 1e-6


def test_unmatched_reasons_and_places() -> None:
    s = np.array([[0.9, 0.8], [0.1, 0.2], [0.5, 0.6]])
    allowed = np.array([[True, True], [True, True], [False, False]])
    a = matcher.assign(s, allowed=allowed, min_score=0.3, mentee_capacity=2, capacity=2)
    assert a.filled.tolist() == [2, 0, 0]
    assert dict(zip(a.unmatched.tolist(), a.reasons, strict=True)) == {
        1: "below_min_score",
        2: "no_allowed_mentor",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "mentee_capacity must be >= 0, got -1 for mentee 0"),
        (
            [1, 2],
            r"expected an int or an array of shape \(3,\) for mentee_capacity, got shape \(2,\)",
        ),
        (1.5, "expected integer mentee_capacity values, got 1.5"),
        ([1, -2, 1], "mentee_capacity must be >= 0, got -2 for mentee 1"),
        (True, "expected integer mentee_capacity values, got True"),
    ],
)
def test_bad_mentee_capacity(value: object, message: str) -> None:
    with pytest.raises(matcher.InvalidCapacityError, match=message):
        matcher.assign(np.ones((3, 2)), mentee_capacity=value)  # type: ignore[arg-type]


def test_pins_with_mentee_capacity() -> None:
    s = np.ones((2, 3))
    a = matcher.assign(s, mentee_capacity=2, capacity=2, pins=[(0, 0), (0, 2)])
    assert a.pinned.sum() == 2
    with pytest.raises(matcher.InvalidPinError, match="given more than once") as err:
        matcher.assign(s, mentee_capacity=2, pins=[(0, 0), (0, 0)])
    assert err.value.problem == "duplicate_pair"
    with pytest.raises(matcher.InvalidPinError, match="mentee_capacity 2") as err:
        matcher.assign(s, mentee_capacity=2, capacity=2, pins=[(0, 0), (0, 1), (0, 2)])
    assert err.value.problem == "over_capacity"

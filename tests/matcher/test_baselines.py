"""Greedy and random feasible baselines against slow, obvious references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import matcher
from matcher import greedy_matching, random_matching


def greedy_reference(scores, capacity, allowed):
    """Every allowed pair sorted by (-score, mentee, mentor), taken while feasible."""
    n, m = scores.shape
    order = sorted(
        ((i, j) for i in range(n) for j in range(m) if allowed[i, j]),
        key=lambda p: (-scores[p], p[0], p[1]),
    )
    cap = list(capacity)
    taken: set[int] = set()
    out = []
    for i, j in order:
        if i not in taken and cap[j] > 0:
            taken.add(i)
            cap[j] -= 1
            out.append((i, j))
    return out


def is_feasible_and_maximal(b, capacity, allowed) -> bool:
    load = np.bincount(b.mentor, minlength=len(capacity))
    if len(set(b.mentee.tolist())) != len(b.mentee) or (load > capacity).any():
        return False
    if not allowed[b.mentee, b.mentor].all():
        return False
    free_rows = np.setdiff1d(np.arange(allowed.shape[0]), b.mentee)
    open_cols = load < capacity
    return not allowed[np.ix_(free_rows, np.flatnonzero(open_cols))].any()


def cases(seed: int, count: int):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n, m = rng.integers(1, 6, size=2)
        scores = rng.choice([0.1, 0.3, 0.5, 0.7, 0.9], size=(n, m))  # ties on purpose
        capacity = rng.integers(0, 3, size=m)
        allowed = rng.random((n, m)) < 0.7
        yield scores, capacity, allowed


def test_greedy_is_worse_than_optimal_on_the_textbook_case() -> None:
    scores = np.array([[0.9, 0.8], [0.8, 0.1]])
    b = greedy_matching(scores)
    assert list(zip(b.mentee.tolist(), b.mentor.tolist(), strict=True)) == [(0, 0), (1, 1)]
    assert b.total == pytest.approx(1.0)
    optimal = matcher.assign(scores)
    assert optimal.total == pytest.approx(1.6)


@pytest.mark.parametrize("seed", range(4))
def test_greedy_matches_the_reference_pair_by_pair(seed: int) -> None:
    for scores, capacity, allowed in cases(seed, 50):
        b = greedy_matching(scores, capacity=capacity, allowed=allowed)
        expected = greedy_reference(scores, capacity, allowed)
        assert list(zip(b.mentee.tolist(), b.mentor.tolist(), strict=True)) == expected
        assert is_feasible_and_maximal(b, capacity, allowed)
        assert np.allclose(b.score, [scores[p] for p in expected])


def test_greedy_respects_capacity_and_takes_the_best_pair_first() -> None:
    scores = np.array([[0.5, 0.2], [0.9, 0.3], [0.8, 0.7]])
    b = greedy_matching(scores, capacity=[2, 1])
    assert (b.mentee[0], b.mentor[0]) == (1, 0)
    assert np.bincount(b.mentor, minlength=2).tolist() == [2, 1]
    assert b.total == pytest.approx(0.9 + 0.8 + 0.2)


def test_greedy_never_takes_a_disallowed_pair_or_a_full_mentor() -> None:
    scores = np.array([[0.9, 0.1], [0.95, 0.2]])
    allowed = np.array([[True, True], [False, True]])
    b = greedy_matching(scores, capacity=[1, 0], allowed=allowed)
    assert b.mentee.tolist() == [0]
    assert b.mentor.tolist() == [0]


def test_random_is_feasible_maximal_and_reproducible() -> None:
    for scores, capacity, allowed in cases(7, 100):
        b = random_matching(
            scores, capacity=capacity, allowed=allowed, rng=np.random.default_rng(3)
        )
        assert is_feasible_and_maximal(b, capacity, allowed)
        again = random_matching(
            scores, capacity=capacity, allowed=allowed, rng=np.random.default_rng(3)
        )
        assert b.mentee.tolist() == again.mentee.tolist()
        assert b.mentor.tolist() == again.mentor.tolist()


def test_random_draws_every_maximal_matching_of_a_small_case() -> None:
    scores = np.array([[0.9, 0.8], [0.8, 0.1]])
    rng = np.random.default_rng(0)
    seen = {round(random_matching(scores, rng=rng).total, 6) for _ in range(200)}
    # Both perfect matchings (1.0 and 1.6); never a partial one.
    assert seen == {1.0, 1.6}


def test_random_never_beats_the_optimum_on_tiny_inputs() -> None:
    for scores, capacity, allowed in cases(11, 40):
        b = random_matching(
            scores, capacity=capacity, allowed=allowed, rng=np.random.default_rng(1)
        )
        n, m = scores.shape
        slots = [j for j in range(m) for _ in range(capacity[j])]
        best = 0.0
        for k in range(min(n, len(slots)) + 1):  # brute force over injective slot choices
            for rows in itertools.combinations(range(n), k):
                for cols in itertools.permutations(slots, k):
                    if all(allowed[i, j] for i, j in zip(rows, cols, strict=True)):
                        best = max(best, sum(scores[i, j] for i, j in zip(rows, cols, strict=True)))
        assert b.total <= best + 1e-9


def test_empty_and_bad_inputs() -> None:
    assert greedy_matching(np.zeros((0, 3))).total == 0.0
    assert random_matching(np.zeros((2, 0)), rng=np.random.default_rng(0)).mentee.size == 0
    with pytest.raises(matcher.InvalidScoresError, match="expected a 2-D matrix"):
        greedy_matching([0.5, 0.2])
    with pytest.raises(matcher.InvalidCapacityError, match="must be >= 0"):
        greedy_matching([[0.5]], capacity=[-1])
    with pytest.raises(matcher.InvalidMaskError, match="shape"):
        random_matching([[0.5]], allowed=np.ones((2, 2), bool), rng=np.random.default_rng(0))

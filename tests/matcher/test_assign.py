"""OR-Library optima, sparse == dense, lazy == dense, certification, determinism, reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import matcher
from matcher._input import Source
from matcher._sparse import solve_sparse
from tests.matcher.conftest import LazyArray

REPO = Path(__file__).resolve().parents[2]
#: The instances live beside the repository (``../shared/data/orlib``; CI clones
#: shared/ next to it). Missing data fails the tests: a skip would hide that the
#: published optima were never checked.
ORLIB = (REPO / ".." / "shared" / "data" / "orlib").resolve()


def _orlib(name: str) -> np.ndarray:
    path = ORLIB / name
    if not path.is_file():
        raise FileNotFoundError(
            f"OR-Library instance {name} not found at {path}: expected shared/data/orlib "
            f"beside the repository root {REPO}"
        )
    nums = np.array(path.read_text().split(), dtype=np.int64)
    n = int(nums[0])
    return nums[1 : 1 + n * n].reshape(n, n)


@pytest.mark.parametrize(
    ("name", "optimum"), [("assign100.txt", 305), ("assign200.txt", 475), ("assign300.txt", 626)]
)
@pytest.mark.parametrize("dense_limit", [None, 1])
def test_orlib_reaches_published_optimum(name: str, optimum: int, dense_limit: int | None) -> None:
    cost = _orlib(name)
    n, top = cost.shape[0], int(cost.max()) + 1
    a = matcher.assign((top - cost).astype(np.float64), dense_limit=dense_limit)
    assert a.mentee.size == n
    assert round(n * top - a.total) == optimum
    assert int(cost[a.mentee, a.mentor].sum()) == optimum
    assert a.optimal


def _structured(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """Low rank + categories + quantization: many ties, like real scores."""
    a, b = rng.standard_normal((n, 4)), rng.standard_normal((m, 4))
    cat = rng.integers(0, 3, n)[:, None] == rng.integers(0, 3, m)[None, :]
    s = 0.5 + 0.12 * (a @ b.T) + 0.2 * cat
    return (np.clip(np.round(s * 40) / 40, 0, 1)).astype(np.float32)


@pytest.mark.parametrize("kind", ["random", "structured", "blocks", "capacity"])
@pytest.mark.parametrize("objective", ["total", "coverage"])
def test_sparse_path_equals_dense(rng: np.random.Generator, kind: str, objective: str) -> None:
    n, m = 150, 120
    s = rng.random((n, m)) if kind == "random" else _structured(rng, n, m)
    allowed = rng.random((n, m)) < 0.7
    cap: np.ndarray | int = 1
    if kind == "blocks":  # independent groups: the component split
        allowed &= (np.arange(n)[:, None] % 3) == (np.arange(m)[None, :] % 3)
    if kind == "capacity":
        cap = rng.integers(0, 4, m)
    kw = dict(capacity=cap, allowed=allowed, min_score=0.2, objective=objective)
    dense = matcher.assign(s, dense_limit=10_000, **kw)
    sparse = matcher.assign(s, dense_limit=20, candidates=3, **kw)
    assert dense.method == "dense"
    assert sparse.method == ("components" if kind == "blocks" else "sparse")
    assert sparse.optimal
    assert sparse.gap == 0.0
    assert sparse.mentee.size == dense.mentee.size
    assert sparse.total == pytest.approx(dense.total, abs=1e-5)


def test_certification_loop_adds_missing_pairs(rng: np.random.Generator) -> None:
    # With one candidate per side the first graph misses the optimum on purpose.
    n = 80
    s = _structured(rng, n, n).astype(np.float64)
    src = Source(n, n, scores=s, allowed=np.ones((n, n), bool))
    res = solve_sparse(
        src,
        lo=0.0,
        offset=0.0,
        row_ok=np.ones(n, bool),
        cap=np.ones(n, np.int64),
        k=1,
        time_limit=None,
    )
    assert res.rounds > 1
    assert res.optimal
    want = matcher.assign(s, dense_limit=10_000).total
    assert res.scores.sum() == pytest.approx(want, abs=1e-9)


def test_time_limit_returns_a_proven_gap(rng: np.random.Generator) -> None:
    n = 120
    s = _structured(rng, n, n)
    exact = matcher.assign(s, dense_limit=10_000).total
    a = matcher.assign(s, dense_limit=1, candidates=1, time_limit=0.0)
    assert a.total <= exact + 1e-6
    # The dual bound is an upper bound: the optimum lies within the reported gap.
    assert exact <= a.total / (1.0 - a.gap) + 1e-5
    assert a.optimal == (a.gap == 0.0)


@pytest.mark.parametrize("dense_limit", [None, 10])
def test_lazy_input_equals_dense(rng: np.random.Generator, dense_limit: int | None) -> None:
    n, m = 90, 70
    s = _structured(rng, n, m)
    allowed = rng.random((n, m)) < 0.8
    lazy = LazyArray(s, allowed)
    a = matcher.assign(lazy, capacity=2, min_score=0.3, pins=[(0, 1)], dense_limit=dense_limit)
    b = matcher.assign(s, allowed=allowed, capacity=2, min_score=0.3, pins=[(0, 1)])
    assert a.total == pytest.approx(b.total, abs=1e-5)
    assert a.reasons == b.reasons
    assert np.array_equal(a.unmatched, b.unmatched)
    assert lazy.rows_served > 0


def test_deterministic(rng: np.random.Generator) -> None:
    s = _structured(rng, 200, 150)
    for limit in (None, 10):
        a = matcher.assign(s, capacity=2, dense_limit=limit)
        b = matcher.assign(s.copy(), capacity=2, dense_limit=limit)
        assert np.array_equal(a.mentee, b.mentee)
        assert np.array_equal(a.mentor, b.mentor)
    c = matcher.assign(s, objective="stable")
    d = matcher.assign(s.copy(), objective="stable")
    assert np.array_equal(c.mentor, d.mentor)


def test_reasons_for_unmatched() -> None:
    s = np.array([[0.9, 0.8], [0.1, 0.2], [0.5, 0.6], [0.7, 0.9]])
    allowed = np.array([[True, True], [True, True], [False, False], [True, True]])
    a = matcher.assign(s, allowed=allowed, min_score=0.3)
    got = dict(zip(a.unmatched.tolist(), a.reasons, strict=True))
    assert got == {1: "below_min_score", 2: "no_allowed_mentor"}
    b = matcher.assign(s, allowed=allowed, min_score=0.3, capacity=[1, 0])
    assert dict(zip(b.unmatched.tolist(), b.reasons, strict=True))[3] == "capacity_exhausted"


def test_min_score_frees_a_mentor_for_two_others() -> None:
    # Mentee 0 taking mentor 0 (0.35) would force mentee 1 onto nothing; leaving
    # a low pair out lets the optimum use both mentors well.
    s = np.array([[0.35, 0.1], [0.9, 0.8]])
    a = matcher.assign(s, min_score=0.3)
    assert a.mentor.tolist() == [0, 1]
    assert a.total == pytest.approx(1.15)
    assert a.unmatched.size == 0


def test_pins_are_kept_and_use_capacity() -> None:
    s = np.array([[0.9, 0.1], [0.8, 0.7]])
    a = matcher.assign(s, pins=[(1, 0)])
    assert a.mentee.tolist() == [0, 1]
    assert a.mentor.tolist() == [1, 0]
    assert a.pinned.tolist() == [False, True]


def test_stable_differs_from_total_and_blocking_pairs() -> None:
    s = np.array([[0.9, 0.85], [0.8, 0.1]])
    total = matcher.assign(s)
    stable = matcher.assign(s, objective="stable")
    assert total.mentor.tolist() == [1, 0]
    assert stable.mentor.tolist() == [0, 1]
    assert matcher.blocking_pairs(s, total) == 1
    i, j = matcher.find_blocking_pairs(s, total)
    assert (i.tolist(), j.tolist()) == ([0], [0])
    assert matcher.blocking_pairs(LazyArray(s), stable) == 0


def test_empty_inputs() -> None:
    a = matcher.assign(np.zeros((0, 3)))
    assert a.mentee.size == 0
    assert a.total == 0.0
    assert a.method == "empty"
    b = matcher.assign(np.zeros((2, 0)))
    assert b.reasons == ("no_allowed_mentor", "no_allowed_mentor")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"scores": np.array([1.0, 2.0, 3.0])}, matcher.InvalidScoresError, r"shape \(3,\)"),
        ({"scores": np.array([[1.0, np.nan]])}, matcher.InvalidScoresError, "nan"),
        ({"scores": np.array([[np.inf, 1.0]])}, matcher.InvalidScoresError, "inf"),
        ({"scores": np.array([["a"]])}, matcher.InvalidScoresError, "dtype"),
        ({"scores": np.ones((2, 2), bool)}, matcher.InvalidScoresError, "dtype bool"),
        ({"allowed": np.ones((3, 2), bool)}, matcher.InvalidMaskError, r"\(3, 2\)"),
        ({"allowed": np.ones((2, 2))}, matcher.InvalidMaskError, "float64"),
        ({"capacity": -1}, matcher.InvalidCapacityError, "-1"),
        ({"capacity": [1, 2, 3]}, matcher.InvalidCapacityError, r"\(3,\)"),
        ({"capacity": 1.5}, matcher.InvalidCapacityError, "1.5"),
        ({"pins": [(5, 0)]}, matcher.InvalidPinError, r"\(5, 0\)"),
        ({"pins": [(0, 0), (0, 1)]}, matcher.InvalidPinError, "mentee 0"),
        ({"pins": [(0, 0), (1, 0)]}, matcher.InvalidPinError, "mentor 0"),
        ({"pins": [(0, 1)], "allowed": np.eye(2, dtype=bool)}, matcher.InvalidPinError, "allowed"),
        ({"pins": [[0.5, 1]]}, matcher.InvalidPinError, "integer"),
        ({"objective": "best"}, matcher.UnknownObjectiveError, "'best'"),
        ({"min_score": float("nan")}, matcher.InvalidScoresError, "min_score"),
        ({"min_score": "high"}, matcher.InvalidScoresError, "high"),
    ],
)
def test_errors_name_the_bad_value(kwargs: dict, error: type, match: str) -> None:
    kwargs = {"scores": np.ones((2, 2)), **kwargs}
    with pytest.raises(error, match=match) as info:
        matcher.assign(**kwargs)
    assert isinstance(info.value, matcher.MatcherError)
    assert isinstance(info.value, ValueError)


def test_lazy_errors() -> None:
    lazy = LazyArray(np.ones((3, 2)))
    with pytest.raises(matcher.InvalidMaskError, match="allowed=None"):
        matcher.assign(lazy, allowed=np.ones((3, 2), bool))

    class Broken(LazyArray):
        def rows(self, start: int, stop: int) -> np.ndarray:
            return np.ones((stop - start, 5), np.float32)

    with pytest.raises(matcher.InvalidScoresError, match=r"shape \(3, 2\)"):
        matcher.assign(Broken(np.ones((3, 2))), dense_limit=1)

    class Nan(LazyArray):
        def rows(self, start: int, stop: int) -> np.ndarray:
            out = super().rows(start, stop)
            out[0, 0] = np.nan
            return out

    with pytest.raises(matcher.InvalidScoresError, match="finite"):
        matcher.assign(Nan(np.ones((3, 2))), dense_limit=1)

    class BadMask(LazyArray):
        def allowed_rows(self, start: int, stop: int) -> np.ndarray:
            return np.ones((stop - start, 2), np.int8)

    with pytest.raises(matcher.InvalidMaskError, match="bool block"):
        matcher.assign(BadMask(np.ones((3, 2))))


def test_fair_and_stable_refuse_huge_matrices() -> None:
    huge = LazyArray(np.ones((1, 1)))
    huge.shape = (100_000, 100_000)
    with pytest.raises(matcher.MatcherError, match="whole matrix"):
        matcher.assign(huge, objective="fair")


@pytest.mark.parametrize(
    ("pins", "capacity", "allowed", "problem", "mentee", "mentor"),
    [
        ([(0, 5)], 1, None, "out_of_range", 0, 5),
        ([(1, 0), (1, 1)], 1, None, "duplicate_mentee", 1, None),
        ([(1, 0)], 1, np.array([[True, True], [False, True]]), "not_allowed", 1, 0),
        ([(0, 1), (1, 1)], 1, None, "over_capacity", None, 1),
    ],
)
def test_pin_errors_say_which_pin_in_attributes(
    pins: list[tuple[int, int]],
    capacity: int,
    allowed: np.ndarray | None,
    problem: str,
    mentee: int | None,
    mentor: int | None,
) -> None:
    with pytest.raises(matcher.InvalidPinError) as caught:
        matcher.assign(np.ones((2, 2)), pins=pins, capacity=capacity, allowed=allowed)
    assert (caught.value.problem, caught.value.mentee, caught.value.mentor) == (
        problem,
        mentee,
        mentor,
    )

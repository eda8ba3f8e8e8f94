"""``matcher._hungarian``: SciPy's ``_lsap`` extension loaded alone is SciPy's solver.

The dense path calls the extension file that ``scipy.optimize`` exports, loaded without
the package (its start-up); these tests check it gives the same assignments and the same
errors as ``scipy.optimize.linear_sum_assignment`` on the matrices the matcher builds,
and that a failure to load it falls back to the public import.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment as public

from matcher import _hungarian


@pytest.fixture(scope="module")
def extension() -> _hungarian.Solver:
    return _hungarian.load_extension()


def _matrices(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    square = rng.random((40, 40))
    wide = rng.random((17, 60)).astype(np.float32)
    tall = rng.random((60, 17))
    ties = rng.integers(0, 3, (30, 45)).astype(np.float64)  # many equal optima
    large = rng.random((25, 25)) * 1e12
    # The matcher's dense path: unusable pairs get weight 0 (a -inf pair may remain
    # where a row still has a finite choice); replicated mentor columns.
    usable = rng.random((35, 20)) < 0.3
    zeros = np.where(usable, rng.random((35, 20)), 0.0)[:, np.repeat(np.arange(20), 2)]
    minus_inf = np.where(usable, rng.random((35, 20)), -np.inf)
    minus_inf[:, 0] = 0.5  # every row keeps a finite pair: feasible
    return [square, wide, tall, ties, large, zeros, minus_inf, np.zeros((0, 5)), np.ones((1, 1))]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("maximize", [True, False])
def test_the_extension_gives_scipys_assignments(
    extension: _hungarian.Solver, seed: int, maximize: bool
) -> None:
    for w in _matrices(seed):
        cost = w if maximize or not np.isneginf(w).any() else -w
        got_r, got_c = extension(cost, maximize=maximize)
        want_r, want_c = public(cost, maximize=maximize)
        np.testing.assert_array_equal(got_r, want_r)
        np.testing.assert_array_equal(got_c, want_c)
        assert got_r.dtype == want_r.dtype
        assert got_c.dtype == want_c.dtype


@pytest.mark.parametrize(
    "cost",
    [
        np.array([[-np.inf, -np.inf], [1.0, 2.0]]),  # a row with no finite pair
        np.array([[np.nan, 1.0], [1.0, 2.0]]),
        np.ones(3),  # not 2-D
    ],
)
def test_the_extension_refuses_what_scipy_refuses(
    extension: _hungarian.Solver,
    cost: np.ndarray,
) -> None:
    with pytest.raises(ValueError, match=r".") as want:
        public(cost, maximize=True)
    with pytest.raises(ValueError, match=r".") as got:
        extension(cost, maximize=True)
    assert str(got.value) == str(want.value)


def test_the_module_function_uses_the_extension() -> None:
    _hungarian._solver.cache_clear()
    try:
        assert _hungarian._solver() is not public
        assert type(_hungarian._solver()) is type(public)  # the compiled function
        w = _matrices(4)[0]
        got = _hungarian.linear_sum_assignment(w, maximize=True)
        np.testing.assert_array_equal(got, public(w, maximize=True))
    finally:
        _hungarian._solver.cache_clear()


def test_a_failure_to_load_falls_back_to_scipy_optimize(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda _name: None)
    with pytest.raises(ImportError, match="scipy is not installed"):
        _hungarian.load_extension()
    _hungarian._solver.cache_clear()
    try:
        assert _hungarian._solver() is public
        w = _matrices(5)[1]
        np.testing.assert_array_equal(
            _hungarian.linear_sum_assignment(w, maximize=True)[1], public(w, maximize=True)[1]
        )
    finally:
        _hungarian._solver.cache_clear()


def test_a_missing_extension_file_is_an_import_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importlib.machinery, "EXTENSION_SUFFIXES", [".no-such-suffix"])
    with pytest.raises(ImportError, match="no _lsap extension"):
        _hungarian.load_extension()

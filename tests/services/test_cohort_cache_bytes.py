"""The cohort cache is bounded in bytes as well as in entries (api/services/cohort_cache.py):
least recently used out first, a cohort larger than the bound computed but not kept."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import scipy.sparse

import scoring
from api.services.cohort_cache import MIB, CachedCohort, CohortCache, cohort_nbytes
from scoring.synthetic import generate_cohort


def _cohort(nbytes: int) -> CachedCohort:
    """A cohort whose engine holds ``nbytes`` of arrays."""
    engine: Any = SimpleNamespace(data=np.zeros(nbytes, dtype=np.uint8))
    return CachedCohort(engine, (uuid.uuid4(),), (uuid.uuid4(),))


def _builder(nbytes: int, built: list[str], name: str) -> Any:
    def build() -> CachedCohort:
        built.append(name)
        return _cohort(nbytes)

    return build


def test_the_size_counts_every_array_once_sparse_ones_and_views_included() -> None:
    base = np.zeros(100)  # 800 bytes
    sparse = scipy.sparse.csr_array(np.eye(5, dtype=np.float32))
    engine: Any = SimpleNamespace(
        base=base,
        view=base[10:20],  # the same memory: not counted again
        again=base,
        listed=[np.ones(10, dtype=np.float32), (np.ones(3, dtype=np.int64),)],
        nested={"sparse": sparse, "name": "x", "n": 3},
    )
    expected = 800 + 40 + 24 + sparse.data.nbytes + sparse.indices.nbytes + sparse.indptr.nbytes
    assert cohort_nbytes(CachedCohort(engine, (), ())) == expected
    assert cohort_nbytes(CachedCohort(None, (), ())) == 0


def test_a_real_engines_size_is_at_least_its_sides_arrays() -> None:
    mentees, mentors, config = generate_cohort(60, 40, seed=3)
    engine = scoring.encode_cohort(mentees, mentors, config)
    size = cohort_nbytes(CachedCohort(engine, (), ()))
    sides = [v for side in (engine.a, engine.b) for v in vars(side).values()]
    assert size >= sum(v.nbytes for v in sides if isinstance(v, np.ndarray)) > 0


def test_beyond_the_byte_bound_the_least_recently_used_go_first() -> None:
    cache = CohortCache(max_bytes=2500)
    built: list[str] = []
    cache.get_or_build("a", _builder(1000, built, "a"))
    cache.get_or_build("b", _builder(1000, built, "b"))
    cache.get_or_build("a", _builder(1000, built, "a"))  # a is now the most recent
    cache.get_or_build("c", _builder(1000, built, "c"))  # 3000 > 2500: b goes
    assert built == ["a", "b", "c"]
    assert ("a" in cache, "b" in cache, "c" in cache) == (True, False, True)
    assert cache.nbytes() == 2000
    cache.get_or_build("d", _builder(2000, built, "d"))  # a and c both go
    assert (len(cache), cache.nbytes(), "d" in cache) == (1, 2000, True)


def test_a_cohort_larger_than_the_bound_is_returned_but_not_kept() -> None:
    cache = CohortCache(max_bytes=500)
    built: list[str] = []
    cache.get_or_build("small", _builder(400, built, "small"))
    first = cache.get_or_build("big", _builder(1000, built, "big"))
    cache.get_or_build("big", _builder(1000, built, "big"))
    assert first.engine is not None
    assert first.engine.data.nbytes == 1000
    assert built == ["small", "big", "big"]  # computed each time
    assert ("small" in cache, "big" in cache) == (True, False)  # the others stay


def test_an_entry_that_grew_after_it_was_kept_is_measured_again_at_its_first_reuse() -> None:
    cache = CohortCache(max_bytes=2500)
    built: list[str] = []
    grown = cache.get_or_build("a", _builder(1000, built, "a"))
    assert grown.engine is not None
    grown.engine.folded = np.zeros(1000, dtype=np.uint8)  # as an engine folds on first use
    assert cache.get_or_build("a", _builder(1000, built, "a")) is grown
    assert cache.nbytes() == 2000
    cache.get_or_build("b", _builder(1000, built, "b"))  # 3000 > 2500: a goes
    assert ("a" in cache, "b" in cache) == (False, True)
    assert built == ["a", "b"]


def test_an_entry_that_grew_beyond_the_bound_goes() -> None:
    cache = CohortCache(max_bytes=1500)
    built: list[str] = []
    grown = cache.get_or_build("a", _builder(1000, built, "a"))
    assert grown.engine is not None
    grown.engine.folded = np.zeros(1000, dtype=np.uint8)
    assert cache.get_or_build("a", _builder(1000, built, "a")) is grown  # still answered
    assert len(cache) == 0


def test_the_entry_bound_still_holds() -> None:
    cache = CohortCache(max_bytes=10**9, max_entries=2)
    built: list[str] = []
    for name in "abc":
        cache.get_or_build(name, _builder(10, built, name))
    assert ("a" in cache, "b" in cache, "c" in cache) == (False, True, True)


def test_zero_keeps_nothing() -> None:
    cache = CohortCache(max_bytes=0)
    built: list[str] = []
    cache.get_or_build("a", _builder(1, built, "a"))
    cache.get_or_build("a", _builder(1, built, "a"))
    assert (built, len(cache)) == (["a", "a"], 0)


def test_the_bound_is_the_settings_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MENTORMATCH_COHORT_CACHE_MB", "3")
    assert CohortCache().max_bytes == 3 * MIB
    monkeypatch.delenv("MENTORMATCH_COHORT_CACHE_MB")
    assert CohortCache().max_bytes == 256 * MIB
    configured = CohortCache()
    configured.configure(1000)
    assert configured.max_bytes == 1000


def test_the_app_bounds_the_process_cache_with_its_settings(tmp_path: Any) -> None:
    from api.app import create_app
    from api.services.cohort_cache import COHORTS

    before = COHORTS.max_bytes
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    try:
        app = create_app({"DATABASE_URL": url, "COHORT_CACHE_MB": 3, "TESTING": True})
        assert COHORTS.max_bytes == 3 * MIB
        app.extensions["mentormatch"].engine.dispose()
    finally:
        COHORTS.configure(before)

"""Column tiles of the folded product give the same scores as one untiled product."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scoring
from scoring import engine as engine_mod
from scoring.criteria import base as criteria_base
from scoring.synthetic import generate_cohort
from tests.scoring.strategies import cohorts, configs
from tests.scoring.test_reference import check_against_reference


def untiled_scores(engine: engine_mod.Engine) -> np.ndarray:  # type: ignore[type-arg]
    """One CSR product over all mentor columns, then the unfolded criteria, then the clip."""
    engine._fold()
    product = engine._product
    assert product is not None  # the sparse, tiled path
    out = np.asarray(product.left @ np.hstack(product.tiles), dtype=np.float32)
    rows, cols = np.arange(engine.shape[0]), np.arange(engine.shape[1])
    for c, w in engine._rest:
        out += c.sim(rows, cols) * w
    return np.minimum(out, np.float32(1))


@pytest.mark.parametrize("fold_max", [criteria_base.FOLD_MAX, 0])
def test_wide_cohort_tiles_equal_untiled_product(fold_max: int) -> None:
    # fold_max=0: value criteria are not folded; they are added tile by tile
    # before the clip, and their masks come from their own similarities.
    n_mentors = 3 * engine_mod.TILE_COLUMNS + 123
    mentees, mentors, cfg = generate_cohort(23, n_mentors, seed=3)
    for c in cfg["criteria"]:
        c["required"] = c.get("required", False) or c["name"] in ("skills", "goals", "seniority")
    with mock.patch.object(criteria_base, "FOLD_MAX", fold_max):
        # Pairs otherwise allowed, the first, a middle and the last one.
        plain = scoring.lazy_compatibility(mentees, mentors, cfg).allowed_rows(0, 23)
        ij = np.argwhere(plain)
        excluded = [tuple(int(x) for x in ij[k]) for k in (0, len(ij) // 2, -1)]
        # And a mentee and a mentor with allowed pairs, made inactive.
        off_i = int(np.flatnonzero(plain.any(axis=1))[1])
        off_j = int(np.flatnonzero(plain.any(axis=0))[-2])
        mentees[off_i]["active"] = mentors[off_j]["active"] = False
        lazy = scoring.lazy_compatibility(
            mentees, mentors, cfg, exclude_pairs=excluded, block_rows=7
        )
        scores, allowed = lazy.rows(0, 23), lazy.allowed_rows(0, 23)
        engine = lazy.engine
        bounds = engine._tiling.bounds
        assert len(bounds) >= 4
        assert [c0 for c0, _ in bounds[1:]] == [c1 for _, c1 in bounds[:-1]]
        assert bounds[0][0] == 0
        assert bounds[-1][1] == n_mentors
        assert bool(engine._rest) == (fold_max == 0)
        np.testing.assert_array_equal(scores, untiled_scores(engine))
        # Rows of one call are the same whatever the call's range and blocks.
        np.testing.assert_array_equal(lazy.rows(5, 18), scores[5:18])
        np.testing.assert_array_equal(lazy.allowed_rows(5, 18), allowed[5:18])
        np.testing.assert_array_equal(engine.rows(0, 23, 23)[0], scores)
        # And the criteria's own dense similarities: weighted mean, and masks.
        rows, cols = np.arange(23), np.arange(n_mentors)
        sims = [c.sim(rows, cols) for c in engine.criteria]
        dense = sum(w * sim for sim, w in zip(sims, engine.weights, strict=True))
        np.testing.assert_allclose(scores, np.minimum(dense, 1), atol=2e-6)
        expected = np.ones((23, n_mentors), dtype=bool)
        for c, sim in zip(engine.criteria, sims, strict=True):
            if c.required:
                expected &= sim > 0
        expected[off_i] = expected[:, off_j] = False
        expected[tuple(np.array(excluded).T)] = False
        assert 0.05 < expected.mean() < 0.95
        np.testing.assert_array_equal(allowed, expected)


@pytest.mark.parametrize("tile", [1, 2, 5])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_narrow_tiles_equal_reference(tile: int, data: st.DataObject) -> None:
    # Tiles of a few columns on small cohorts: many tiles per row block, uneven
    # tiles, fewer columns than tiles. Small cohorts fold densely (BLAS, no
    # tiles) unless the sparse product is forced.
    with (
        mock.patch.object(engine_mod, "TILE_COLUMNS", tile),
        mock.patch.object(engine_mod, "SPARSE_DENSITY", 1.01),
    ):
        mentees, mentors = data.draw(cohorts())
        check_against_reference(mentees, mentors, data.draw(configs()))

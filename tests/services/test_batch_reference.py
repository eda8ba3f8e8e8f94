"""The offline batch against oracles: per-pair reference scores and SciPy's optimum.

A generated cohort with fewer mentor places than mentees goes through
:func:`api.services.batch.match_files`; every written pair must score what the plain
per-pair reference of the scoring rules (``tests/scoring/reference.py``) gives it,
be allowed and above ``min_score``, keep each mentor within its places, and the total
be the optimum SciPy's ``linear_sum_assignment`` finds on the reference matrix. The batch
runs with the cyclic garbage collector off and a dense cohort is matched with NumPy's
huge pages off; both are given back as they were.
"""

from __future__ import annotations

import csv
import gc
import importlib
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from api.services import batch, csv_format
from api.services.batch import PHASES, generate, match_files
from api.services.cohort_matching import DENSE_PAIR_LIMIT
from tests.scoring.reference import reference


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    generate(120, 50, seed=11, out=out)
    return out


def test_batch_pairs_score_as_the_reference_and_reach_the_optimum(
    cohort: Path, tmp_path: Path
) -> None:
    result = match_files(
        cohort / "program.json",
        cohort / "mentees.csv",
        cohort / "mentors.csv",
        tmp_path / "matches.csv",
        unmatched_out=tmp_path / "unmatched.csv",
    )
    config = json.loads((cohort / "program.json").read_text())["config"]
    mentees, _ = csv_format.read_participants((cohort / "mentees.csv").read_bytes(), config)
    _, mentors = csv_format.read_participants((cohort / "mentors.csv").read_bytes(), config)
    scores, allowed, _ = reference(mentees, mentors, config)
    ref = np.array(scores)
    ok = np.array(allowed) & (ref >= config["min_score"])

    row_of = {m["external_id"]: k for k, m in enumerate(mentees)}
    col_of = {m["external_id"]: k for k, m in enumerate(mentors)}
    paired = [r for r in _rows(tmp_path / "matches.csv") if r["mentor_external_id"]]
    i = np.array([row_of[r["mentee_external_id"]] for r in paired])
    j = np.array([col_of[r["mentor_external_id"]] for r in paired])
    written = np.array([float(r["score"]) for r in paired])
    places = np.array([m["capacity"] or config["default_capacity"] for m in mentors])
    assert len(set(i.tolist())) == len(i)
    assert (np.bincount(j, minlength=len(mentors)) <= places).all()
    assert ok[i, j].all()
    np.testing.assert_allclose(written, ref[i, j], atol=2e-6)  # 6 decimals, float32 scores

    # One column per mentor place: the optimum with capacities, as an assignment.
    gain = np.repeat(np.where(ok, ref, 0.0), places, axis=1)
    rows, cols = linear_sum_assignment(gain, maximize=True)
    optimum = float(gain[rows, cols].sum())
    assert places.sum() < len(mentees)  # some are left unmatched
    assert abs(written.sum() - optimum) < 1e-4
    assert abs(result.stats["score_total"] - optimum) < 1e-4
    unmatched = _rows(tmp_path / "unmatched.csv")
    assert len(paired) + len(unmatched) == len(mentees)
    assert {r["mentee_external_id"] for r in unmatched} == set(row_of) - {
        r["mentee_external_id"] for r in paired
    }


def _hugepages_now() -> bool:
    """NumPy's huge-page setting, read by setting it and putting it back."""
    switch = importlib.import_module("numpy._core.multiarray")._set_madvise_hugepage
    before = bool(switch(False))
    switch(before)
    return before


def _run(cohort: Path, out: Path) -> dict[str, tuple[bool, bool]]:
    """The batch on ``cohort``: phase -> (collector on, huge pages on) as the phase began."""
    seen: dict[str, tuple[bool, bool]] = {}

    def note(phase: str) -> None:
        seen.setdefault(phase, (gc.isenabled(), _hugepages_now()))

    match_files(
        cohort / "program.json",
        cohort / "mentees.csv",
        cohort / "mentors.csv",
        out / "matches.csv",
        on_phase=note,
    )
    return seen


def test_the_collector_is_off_for_the_batch_and_given_back(cohort: Path, tmp_path: Path) -> None:
    assert gc.isenabled()
    seen = _run(cohort, tmp_path)
    assert list(seen) == list(PHASES)
    assert not any(collector for collector, _ in seen.values())
    assert gc.isenabled()
    gc.disable()
    try:
        assert not any(collector for collector, _ in _run(cohort, tmp_path).values())
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()


def test_huge_pages_are_off_while_a_dense_cohort_is_matched(
    cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    switch = importlib.import_module("numpy._core.multiarray")._set_madvise_hugepage
    before = switch(True)
    try:
        seen = _run(cohort, tmp_path)
        assert [huge for _, huge in seen.values()] == [True, True, False, False, False]
        assert _hugepages_now()  # given back
        # A cohort scored lazily (row blocks allocated again and again) keeps them.
        monkeypatch.setattr(batch, "DENSE_PAIR_LIMIT", 10)
        assert all(huge for _, huge in _run(cohort, tmp_path).values())
        monkeypatch.setattr(batch, "DENSE_PAIR_LIMIT", DENSE_PAIR_LIMIT)
        # So does any cohort when the environment chose.
        monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
        assert all(huge for _, huge in _run(cohort, tmp_path).values())
    finally:
        switch(before)

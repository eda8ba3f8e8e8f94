"""Each benchmark script, run at a tiny size, writes its result file in the shape
report.py reads (the keys of ``report.save``, its tables' columns, one row per case), and
its figures hold what they claim (SciPy and the matcher agree on the optimum, greedy
never beats it, the b-matching never scores less than sequential rounds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import bench_matcher, bench_requests, bench_run, bench_scoring, feedback_sim, report
from tests.conftest import PG_ENV, REDIS_ENV

KEYS = {"benchmark", "command", "measured_at", "commit", "cpus", "load_before", "load_after"}
KEYS |= {"notes", "tables"}


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Results go to a scratch folder: the committed ones are left alone."""
    folder = tmp_path / "results"
    monkeypatch.setattr(report, "RESULTS", folder)
    for module in (bench_matcher, bench_run, bench_scoring, feedback_sim):
        monkeypatch.setattr(module, "RESULTS", folder)
    return folder


def _result(results: Path, name: str, columns: dict[str, list[str]]) -> dict[str, Any]:
    """The result file ``name``: report.save's keys, these tables with these columns,
    every row as long as its columns; and each table renders into a marked README."""
    document: dict[str, Any] = json.loads((results / f"{name}.json").read_text())
    assert set(document) == KEYS
    assert document["benchmark"] == name
    assert document["command"].startswith(".venv/bin/python -m ")
    assert {k: t["columns"] for k, t in document["tables"].items()} == columns
    for table in document["tables"].values():
        assert table["rows"]
        assert all(len(row) == len(table["columns"]) for row in table["rows"])
    readme = results / "README.md"
    readme.write_text("".join(f"<!-- bench:{k} -->\nold\n<!-- /bench:{k} -->\n" for k in columns))
    assert report.update_readme(readme, results) == list(columns)
    assert "old" not in readme.read_text()
    return document


def _rows(document: dict[str, Any], table: str) -> list[dict[str, Any]]:
    t = document["tables"][table]
    return [dict(zip(t["columns"], row, strict=True)) for row in t["rows"]]


def _png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_scoring_writes_the_cohort_and_wide_results(results: Path) -> None:
    argv = ["--sizes", "100,200", "--repeat", "1", "--reference-sample", "1", "--no-bandwidth"]
    bench_scoring.main([*argv, "--wide", "2000", "--wide-mentees", "2000", "--wide-repeat", "1"])

    document = _result(results, "scoring", {"scoring": bench_scoring.COLUMNS})
    rows = _rows(document, "scoring")
    assert [r["n per side"] for r in rows] == [100, 200]
    for r in rows:
        assert r["output MiB"] == round(r["n per side"] ** 2 * 4 / 2**20)
        assert 0 < r["allowed"] <= 1
        assert r["encode s"] > 0
        assert r["seconds"] > 0
    assert "Per-pair Python reference at 1,000 x 1,000" in document["notes"]
    wide = _result(results, "scoring_wide", {"scoring-wide": bench_scoring.WIDE_COLUMNS})
    calls = [(r["call"], r["rows"]) for r in _rows(wide, "scoring-wide")]
    assert calls == [
        (c, n) for n in (167, 1000) for c in ("rows", "allowed_rows", "rows + allowed_rows")
    ]
    assert _png(results / "scoring.png")


def test_bench_matcher_writes_exact_large_and_both_results(results: Path) -> None:
    sizes = ["--sizes", "60", "120", "--lsa-max", "200", "--no-rect"]
    bench_matcher.main([*sizes, "--large", "150", "--both", "60:2:2"])

    exact = _rows(_result(results, "matcher", {"matcher": bench_matcher.COLUMNS}), "matcher")
    for n in (60, 120):
        by = {r["method"].split(" (")[0]: r for r in exact if r["mentees"] == n}
        assert set(by) == {"scipy lsa", "greedy", "matcher"}
        assert by["matcher"]["total score"] == pytest.approx(by["scipy lsa"]["total score"])
        assert by["scipy lsa"]["gap to optimum"] == pytest.approx(0, abs=1e-6)
        assert by["greedy"]["total score"] <= by["matcher"]["total score"]
        assert by["greedy"]["gap to optimum"] >= 0
    large = _result(results, "matcher_large", {"matcher-large": bench_matcher.LARGE_COLUMNS})
    [row] = _rows(large, "matcher-large")
    assert row["n per side"] == 150
    assert 0 <= row["proven gap"] <= row["tolerance"]
    both = _result(results, "matcher_both", {"matcher-both": bench_matcher.BOTH_COLUMNS})
    one, many, rounds = _rows(both, "matcher-both")
    assert "b-matching" in many["method"]
    assert many["total score"] >= rounds["total score"] >= one["total score"]
    assert "never less: True" in both["notes"]
    assert _png(results / "matcher.png")


@pytest.mark.e2e
@pytest.mark.slow  # a server and a worker start and stop: 15-40 s on the 2 shared cores
def test_bench_run_writes_its_result(results: Path) -> None:
    bench_run.main(["--sizes", "20"])

    [row] = _rows(_result(results, "run", {"run": bench_run.COLUMNS}), "run")
    assert row["n per side"] == 20
    assert row["matched"] == 20
    assert row["run->stored"] > 0
    assert row["total"] >= row["assign"] >= 0
    assert _png(results / "run.png")


@pytest.mark.e2e
@pytest.mark.slow  # a server and two workers on PostgreSQL and Redis start and stop
@pytest.mark.postgres
@pytest.mark.redis
def test_bench_requests_writes_each_endpoints_costs_and_the_mix(results: Path) -> None:
    import os

    database = os.environ[PG_ENV].replace("postgresql://", "postgresql+psycopg://", 1)
    bench_requests.main(
        ["--requests", "5", "--database", database, "--redis", os.environ[REDIS_ENV]]
    )

    document = _result(results, "requests", {"requests": bench_requests.COLUMNS})
    rows = {row["endpoint"]: row for row in _rows(document, "requests")}
    assert set(bench_requests.MIX) < set(rows)
    mix = rows.pop("the load's mix (weighted)")
    assert list(rows) == list(bench_requests.NAMES)  # what --only may name
    # (CPU is counted in ticks of 10 ms: a few requests may read 0.)
    assert all(row["req/s"] > 0 and row["web cpu ms"] >= 0 for row in rows.values())
    expected = sum(share * rows[name]["web cpu ms"] for name, share in bench_requests.MIX.items())
    assert mix["web cpu ms"] == pytest.approx(expected)
    total = mix["web cpu ms"] + mix["PostgreSQL cpu ms"]
    assert mix["req/s per core"] == (pytest.approx(1000 / total) if total else None)


@pytest.mark.slow
def test_feedback_sim_writes_its_rounds_and_weights(results: Path, tmp_path: Path) -> None:
    feedback_sim.main(["--rounds", "2", "--size", "30", "--out", str(tmp_path / "fb.png")])

    document = _result(
        results,
        "feedback",
        {"feedback": feedback_sim.FEEDBACK_COLUMNS, "feedback-weights": _weights_columns()},
    )
    first, second = _rows(document, "feedback")
    assert (first["round"], first["outcomes before"], second["outcomes before"]) == (1, 0, 30)
    assert first["learning"] == first["prior"]  # round 1: both score with the prior
    assert first["weights used"] == "v1"
    weights = [r["weights (sum 10)"] for r in _rows(document, "feedback-weights")]
    assert weights[:2] == ["prior (v1)", "truth (hidden)"]
    assert len(weights) == 4  # learned after each of the two rounds
    assert "Wall time" in document["notes"]
    assert _png(tmp_path / "fb.png")


def _weights_columns() -> list[str]:
    names = [c["name"] for c in feedback_sim.program_config()["criteria"]]
    return ["weights (sum 10)", *names]


def test_every_script_names_its_tables_in_the_readme() -> None:
    """Each result table a script writes has its marked block in benchmarks/README.md."""
    marked = set(report.markers())
    written = {"scoring", "scoring-wide", "matcher", "matcher-large", "matcher-both", "run"}
    written |= {"requests"}
    assert written | {"feedback", "feedback-weights"} <= marked

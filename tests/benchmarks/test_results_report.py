"""report.py renders every marked table of the real benchmarks/README.md from result files
(fixtures in the shape the scripts write), leaves and names a marker without one, and the
plots are drawn from the result files."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from benchmarks import plots, report

FIXTURES = Path(__file__).parent / "fixtures"
NEW_TABLES = [
    "scoring",
    "scoring-wide",
    "matcher",
    "matcher-large",
    "matcher-both",
    "run",
    "feedback",
    "feedback-weights",
]


def _block(text: str, name: str) -> str:
    match = re.search(rf"<!-- bench:{name} -->\n(.*?)<!-- /bench:{name} -->", text, re.S)
    assert match, f"no marked block {name}"
    return match[1]


def _outside(text: str) -> str:
    return re.sub(r"(<!-- bench:([\w-]+) -->\n).*?(<!-- /bench:\2 -->)", r"\1\3", text, flags=re.S)


def test_every_benchmarks_marked_table_is_rendered_from_its_result_file(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    shutil.copy(report.README, readme)
    before = readme.read_text()

    done = report.update_readme(readme, FIXTURES)

    assert sorted(done) == sorted(NEW_TABLES)
    text = readme.read_text()
    assert _outside(text) == _outside(before)  # the prose around the blocks is untouched
    for name in NEW_TABLES:  # the hand-written tables are gone, each names its file
        assert "`benchmarks/results/" in _block(text, name)
    scoring = _block(text, "scoring")
    assert "ccd4035" not in scoring
    assert "    .venv/bin/python -m benchmarks.bench_scoring --sizes 1000,10000\n" in scoring
    assert "| 10,000 | 0.438 | 0.54 | 0.293 | 228.1 | 546 | 381 | 1.43 | 71.1% |" in scoring
    assert "the vectorized call is 350x faster" in scoring  # the notes follow the table
    matcher = _block(text, "matcher")
    assert "| 8,000 | 8,000 | 1 | scipy lsa | 20.42 | 5,993.873 | 0.000% | 0.72 |" in matcher
    assert "| 8,000 | 8,000 | 1 | greedy | 2.29 | 5,365.868 | 10.477% | 0.50 |" in matcher
    large = _block(text, "matcher-large")
    assert "| 100,000 | matcher (auction) | 0.0005 | 118.9 | 80,066.282 | 0.0130% |" in large
    assert "| 500 | 3 | 3 | 3 sequential one-to-one rounds | 0.35 | 967.249 | 0.169% |" in _block(
        text, "matcher-both"
    )
    assert "| 10,000 | 2.98 | 10.53 | 4.50 | 10,000 | 1.11 | 1.30 | 5.75 | 0.11 |" in _block(
        text, "run"
    )
    assert "| rows | 167 | 726 | 670 | 1.76 | 812 | 715 |" in _block(text, "scoring-wide")
    feedback = _block(text, "feedback")
    assert "| 2 | 500 | 0.7457 | 0.7137 | 0.7483 | 93% | 0.6760 | 0.6499 | 0.6766 | 98% |" in (
        feedback
    )
    assert "Wall time 77 s" in feedback
    weights = _block(text, "feedback-weights")  # the same run: named, its notes not repeated
    assert weights.startswith("From `benchmarks/results/feedback.json`, the same run")
    assert "| learned after round 1 (v2) | 1.10 | 2.06 | 0.72 |" in weights
    assert "Wall time" not in weights


def test_a_marker_without_a_result_file_is_kept_and_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    shutil.copy(report.README, readme)
    before = readme.read_text()
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(FIXTURES / "scoring.json", results)

    assert report.main(["--readme", str(readme), "--results", str(results), "--no-plots"]) == 0

    out = capsys.readouterr().out
    assert "scoring regenerated" in out
    kept = re.search(r"kept as written, no result file in .* holds their table: (.*)", out)
    assert kept, out
    assert set(kept[1].split(", ")) == set(report.markers(readme)) - {"scoring"}
    text = readme.read_text()
    assert _block(text, "matcher") == _block(before, "matcher")
    assert _block(text, "scoring") != _block(before, "scoring")


def test_the_plots_are_drawn_from_the_result_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in FIXTURES.glob("*.json"):
        shutil.copy(path, tmp_path)
    drawn = plots.draw_all(tmp_path)
    assert [p.name for p in drawn] == ["scoring.png", "matcher.png", "run.png", "feedback.png"]
    for path in drawn:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    seen: dict[str, Any] = {}

    def record(_path: Path, series: dict[str, Any], **_labels: Any) -> None:
        seen.update(series)

    monkeypatch.setattr(plots, "plot_lines", record)
    plots.matcher(tmp_path)
    assert seen == {  # the square one-to-one cases, SciPy and greedy beside the matcher
        "scipy linear_sum_assignment": ([1000.0, 8000.0], [0.06, 20.42]),
        "greedy (each mentee's top 50)": ([1000.0, 8000.0], [0.19, 2.29]),
        "matcher.assign (certified)": ([1000.0, 8000.0], [0.06, 1.75]),
        "matcher.assign (lazy, within the tolerance)": ([100000.0], [118.9]),
    }


def test_a_table_keeps_its_numbers_and_shows_them_in_its_formats() -> None:
    table = report.Table(["n", "share", "seconds"], [[1000, 0.12345, 0.004]], [None, ".1%"])
    assert "| 1,000 | 12.3% | 0.004 |" in report.markdown(table)
    document = json.loads(json.dumps(report._table_json(table)))
    assert document == {
        "columns": ["n", "share", "seconds"],
        "rows": [[1000, 0.12345, 0.004]],
        "formats": [None, ".1%"],
    }
    assert "formats" not in report._table_json(report.Table(["n"], [[1]]))

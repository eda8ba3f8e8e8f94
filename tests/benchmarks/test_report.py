"""benchmarks/report.py: result files in, the README's marked tables out, the rest untouched."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

# The benchmarks are scripts run from the repository root, not an installed package.
_spec = importlib.util.spec_from_file_location(
    "bench_report", REPO_ROOT / "benchmarks" / "report.py"
)
assert _spec is not None
assert _spec.loader is not None
report = importlib.util.module_from_spec(_spec)
sys.modules["bench_report"] = report  # dataclasses look their module up
_spec.loader.exec_module(report)


def _result(results: Path, name: str, tables: dict[str, report.Table]) -> None:
    argv = sys.argv
    sys.argv = ["bench", "--sizes", "10"]
    try:
        saved = report.save(name, tables, load_before=0.5)
    finally:
        sys.argv = argv
    saved.rename(results / saved.name)


def test_marked_blocks_are_rewritten_from_the_json_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "RESULTS", tmp_path / "scratch")
    results = tmp_path / "results"
    results.mkdir()
    table = report.Table(["n per side", "wall s", "method"], [[10000, 12.345, "sparse, gap 0"]])
    _result(results, "batch", {"batch": table})
    readme = tmp_path / "README.md"
    before = (
        "# Benchmarks\n\nprose kept\n\n<!-- bench:batch -->\nstale table\n<!-- /bench:batch -->\n"
        "\n<!-- bench:other -->\nno result file: kept\n<!-- /bench:other -->\ntail kept\n"
    )
    readme.write_text(before)

    assert report.update_readme(readme, results) == ["batch"]
    text = readme.read_text()
    assert "stale table" not in text
    assert "| n per side | wall s | method |\n|---:|---:|---|\n" in text
    assert "| 10,000 | 12.35 | sparse, gap 0 |" in text
    assert "    .venv/bin/python -m " in text  # the command that produced it
    assert "load average 0.5 before" in text
    assert text.startswith("# Benchmarks\n\nprose kept\n\n<!-- bench:batch -->\n")
    assert "<!-- bench:other -->\nno result file: kept\n<!-- /bench:other -->\ntail kept\n" in text
    report.update_readme(readme, results)
    assert readme.read_text() == text  # regenerating again changes nothing

    document = json.loads((results / "batch.json").read_text())
    assert document["tables"]["batch"]["rows"] == [[10000, 12.345, "sparse, gap 0"]]

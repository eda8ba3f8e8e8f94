"""Benchmark results as files, and the README's tables regenerated from them.

A benchmark script calls :func:`save` with its tables: it writes
``benchmarks/results/<name>.json`` (the command, when, at which commit, the machine's
load before and after, and each table's columns and rows). ``python -m
benchmarks.report`` then rewrites, in ``benchmarks/README.md``, every block between
``<!-- bench:TABLE -->`` and ``<!-- /bench:TABLE -->`` from the result file holding
table ``TABLE``: a line saying how it was measured, then the table. Text outside the
markers is never touched, so the README cannot disagree with a result file for the
tables it marks. :func:`plot_lines` draws the PNG plots beside the JSON (matplotlib,
a dev dependency, imported only to plot).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "benchmarks" / "README.md"
_BLOCK = re.compile(
    r"(<!-- bench:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /bench:(?P=name) -->)", re.S
)


@dataclass(frozen=True)
class Table:
    """A result table: column headings and rows of cells (numbers or text)."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]


def load_average() -> float:
    """The machine's 1-minute load average (how busy the 2 cores were)."""
    return round(os.getloadavg()[0], 2)


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def save(name: str, tables: Mapping[str, Table], *, load_before: float, notes: str = "") -> Path:
    """Write ``results/<name>.json`` with ``tables`` and how they were measured."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": name,
        "command": ".venv/bin/python -m " + shlex.join([_module(), *sys.argv[1:]]),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": load_average(),
        "notes": notes,
        "tables": {key: {"columns": list(t.columns), "rows": t.rows} for key, t in tables.items()},
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {shown(path)}")
    return path


def shown(path: Path) -> str:
    """The path as printed: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _module() -> str:
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    return spec.name if spec is not None else Path(sys.argv[0]).stem


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):  # 2 decimals; small values (a tolerance) as given
        return f"{value:,.2f}" if value == 0 or abs(value) >= 0.01 else f"{value:g}"
    return str(value)


def markdown(table: Table) -> str:
    """The table in Markdown; numbers right-aligned."""
    numeric = [
        all(isinstance(row[k], int | float) or row[k] is None for row in table.rows)
        for k in range(len(table.columns))
    ]
    lines = [
        "| " + " | ".join(table.columns) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def _block(document: Mapping[str, Any], name: str) -> str:
    table = document["tables"][name]
    said = (
        f"Measured {document['measured_at']} at commit {document['commit']} on "
        f"{document['cpus']} cores (load average {document['load_before']} before, "
        f"{document['load_after']} after), from `benchmarks/results/"
        f"{document['benchmark']}.json`:\n\n    {document['command']}\n\n"
    )
    notes = f"\n{document['notes']}\n" if document.get("notes") else ""
    return said + markdown(Table(table["columns"], table["rows"])) + notes


def update_readme(readme: Path = README, results: Path = RESULTS) -> list[str]:
    """Rewrite each marked block of ``readme`` whose table a result file holds; return
    the names of the blocks rewritten."""
    found: dict[str, Mapping[str, Any]] = {}
    for path in sorted(results.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for name in document.get("tables", {}):
            found[name] = document
    text = readme.read_text(encoding="utf-8")
    done: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in found:
            return match[0]
        done.append(name)
        return match[1] + _block(found[name], name) + match[4]

    readme.write_text(_BLOCK.sub(replace, text), encoding="utf-8")
    return done


def plot_lines(
    path: Path,
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    target: float | None = None,
    log: bool = True,
) -> None:
    """One line per series (x, y) in a PNG, log-log by default, with a dashed target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", label=label)
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", label=f"target {target:g}")
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {shown(path)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    done = update_readme()
    print(f"benchmarks/README.md: {', '.join(done) or 'no marked table'} regenerated")


if __name__ == "__main__":
    main()

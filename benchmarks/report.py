"""Benchmark results as files, and the README's tables regenerated from them.

A benchmark script calls :func:`save` with its tables: it writes
``benchmarks/results/<name>.json`` (the command, when, at which commit, the machine's
load before and after, and each table's columns, rows and optional number formats).
``python -m benchmarks.report`` then rewrites, in ``benchmarks/README.md``, every block
between ``<!-- bench:TABLE -->`` and ``<!-- /bench:TABLE -->`` from the result file
holding table ``TABLE``: a line saying how it was measured, then the table, then the
file's notes. Text outside the markers is never touched, so the README cannot disagree
with a result file for the tables it marks; a marker no result file holds is left as
written and named. It also redraws the plots of ``benchmarks/plots.py`` from the result
files. :func:`plot_lines` draws the PNG plots beside the JSON (matplotlib, a dev
dependency, imported only to plot). ``BENCH_RESULTS=DIR`` writes and reads results
elsewhere (a trial run on a busy machine, the tests).

    .venv/bin/python -m benchmarks.report [--readme FILE] [--results DIR] [--no-plots]
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
#: Where results are written and read; ``BENCH_RESULTS`` elsewhere (a trial run on a busy
#: machine, the tests) leaves the committed results alone.
RESULTS = Path(os.environ.get("BENCH_RESULTS") or ROOT / "benchmarks" / "results").resolve()
README = ROOT / "benchmarks" / "README.md"
_BLOCK = re.compile(
    r"(<!-- bench:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /bench:(?P=name) -->)", re.S
)


@dataclass(frozen=True)
class Table:
    """A result table: column headings and rows of cells (numbers or text).

    ``formats`` optionally gives, column by column, a format spec for its numbers
    (``".4f"``, ``".0%"``; ``None`` or missing: the default, 2 decimals and thousands
    separators): the JSON keeps the numbers, the README shows them so.
    """

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    formats: Sequence[str | None] = ()


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
        "tables": {key: _table_json(t) for key, t in tables.items()},
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {shown(path)}")
    return path


def _table_json(table: Table) -> dict[str, Any]:
    out: dict[str, Any] = {"columns": list(table.columns), "rows": table.rows}
    if any(table.formats):
        out["formats"] = list(table.formats)
    return out


def result_table(document: Mapping[str, Any], name: str) -> Table:
    """Table ``name`` of a result document (as :func:`save` wrote it)."""
    t = document["tables"][name]
    return Table(t["columns"], t["rows"], t.get("formats") or ())


def read(name: str, results: Path | None = None) -> dict[str, Any] | None:
    """The result document ``results/<name>.json``, or None when there is none."""
    path = (results or RESULTS) / f"{name}.json"
    if not path.exists():
        return None
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def shown(path: Path) -> str:
    """The path as printed: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _module() -> str:
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    return spec.name if spec is not None else Path(sys.argv[0]).stem


def _cell(value: Any, spec: str | None = None) -> str:
    if spec and isinstance(value, int | float) and not isinstance(value, bool):
        return format(value, spec)
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
    specs = [*table.formats, *[None] * len(table.columns)]
    lines += [
        "| " + " | ".join(_cell(c, spec) for c, spec in zip(row, specs, strict=False)) + " |"
        for row in table.rows
    ]
    return "\n".join(lines) + "\n"


def _block(document: Mapping[str, Any], name: str) -> str:
    """A marked block: how the table was measured, the table, the document's notes. A
    document's later tables (feedback's weights) name the run and leave the notes to
    its first."""
    if name != next(iter(document["tables"])):
        return (
            f"From `benchmarks/results/{document['benchmark']}.json`, the same run "
            f"({document['measured_at']}, commit {document['commit']}):\n\n"
            + markdown(result_table(document, name))
        )
    said = (
        f"Measured {document['measured_at']} at commit {document['commit']} on "
        f"{document['cpus']} cores (load average {document['load_before']} before, "
        f"{document['load_after']} after), from `benchmarks/results/"
        f"{document['benchmark']}.json`:\n\n    {document['command']}\n\n"
    )
    notes = f"\n{document['notes']}\n" if document.get("notes") else ""
    return said + markdown(result_table(document, name)) + notes


def update_readme(readme: Path = README, results: Path = RESULTS) -> list[str]:
    """Rewrite each marked block of ``readme`` whose table a result file holds; return
    the names of the blocks rewritten (a block no result file holds is left as it is:
    :func:`markers` minus these)."""
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


def markers(readme: Path = README) -> list[str]:
    """The names of the marked blocks of ``readme``, in order."""
    return [m["name"] for m in _BLOCK.finditer(readme.read_text(encoding="utf-8"))]


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--results", type=Path, default=RESULTS, help="the result files' folder")
    parser.add_argument(
        "--plots",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="redraw the scoring, matcher and run plots from their result files",
    )
    args = parser.parse_args(argv)
    done = update_readme(args.readme, args.results)
    print(f"{shown(args.readme)}: {', '.join(done) or 'no marked table'} regenerated")
    kept = [name for name in markers(args.readme) if name not in done]
    if kept:
        print(
            f"{shown(args.readme)}: kept as written, no result file in "
            f"{shown(args.results)} holds their table: {', '.join(kept)}"
        )
    if args.plots:
        from benchmarks import plots

        plots.draw_all(args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

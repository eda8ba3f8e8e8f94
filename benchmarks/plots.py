"""The PNG plots of the scoring, matcher, run and feedback benchmarks, drawn from their
result files (never from a script's memory), so a plot cannot disagree with its JSON.

Each script calls its function after :func:`benchmarks.report.save`;
``python -m benchmarks.report`` redraws them all (:func:`draw_all`). A plot whose
result file is missing is skipped. matplotlib (a dev dependency) is imported only to
draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.report import plot_lines, read, result_table, shown

Series = dict[str, tuple[list[float], list[float]]]

#: The matcher table's methods as plotted: label -> how its method cell starts.
MATCHER_METHODS = {
    "scipy linear_sum_assignment": "scipy lsa",
    "greedy (each mentee's top 50)": "greedy",
    "matcher.assign (certified)": "matcher",
}


def _rows(results: Path, name: str, table: str) -> list[dict[str, Any]] | None:
    """Table ``table`` of ``results/<name>.json`` as dicts by column, or None."""
    document = read(name, results)
    if document is None or table not in document["tables"]:
        return None
    t = result_table(document, table)
    return [dict(zip(t.columns, row, strict=True)) for row in t.rows]


def _xy(rows: Sequence[dict[str, Any]], x: str, y: str) -> tuple[list[float], list[float]]:
    kept = [r for r in rows if r.get(x) is not None and r.get(y) is not None]
    return [float(r[x]) for r in kept], [float(r[y]) for r in kept]


def _nan(value: float | None) -> float:
    """A cell as a plotted number: an undefined share (None) is a gap in the line."""
    return float("nan") if value is None else float(value)


def scoring(results: Path) -> Path | None:
    """Scoring time (whole call, and encoding alone) against cohort size, log-log."""
    rows = _rows(results, "scoring", "scoring")
    if not rows:
        return None
    path = results / "scoring.png"
    plot_lines(
        path,
        {
            "scoring.compatibility (whole call)": _xy(rows, "n per side", "seconds"),
            "validation + encoding alone": _xy(rows, "n per side", "encode s"),
        },
        title="Scoring an n x n cohort (seven criteria)",
        xlabel="mentees = mentors",
        ylabel="wall seconds (best of the repeats)",
    )
    return path


def matcher(results: Path) -> Path | None:
    """Solve time against cohort size of the matcher, raw SciPy and greedy (square
    one-to-one cases), and the lazy cases with a tolerance when there are any."""
    rows = _rows(results, "matcher", "matcher")
    if not rows:
        return None
    square = [r for r in rows if r["mentees"] == r["mentors"] and r["mentor cap"] == 1]
    series: Series = {
        label: _xy([r for r in square if r["method"].startswith(start)], "mentees", "seconds")
        for label, start in MATCHER_METHODS.items()
    }
    large = _rows(results, "matcher_large", "matcher-large")
    if large:
        series["matcher.assign (lazy, within the tolerance)"] = _xy(large, "n per side", "seconds")
    path = results / "matcher.png"
    plot_lines(
        path,
        {label: xy for label, xy in series.items() if xy[0]},
        title="Assignment of an n x n cohort",
        xlabel="mentees = mentors",
        ylabel="wall seconds",
    )
    return path


def run(results: Path) -> Path | None:
    """A run through the HTTP API and worker: seconds per stage against cohort size."""
    rows = _rows(results, "run", "run")
    if not rows:
        return None
    path = results / "run.png"
    plot_lines(
        path,
        {
            "button press -> proposals stored": _xy(rows, "n per side", "run->stored"),
            "upload both CSV files": _xy(rows, "n per side", "upload"),
            "page through every proposal": _xy(rows, "n per side", "fetch"),
        },
        title="A matching run through the service",
        xlabel="mentees = mentors",
        ylabel="wall seconds",
    )
    return path


def feedback(results: Path, path: Path | None = None) -> Path | None:
    """Realized success per round of the three arms; the learning arm's closure and the
    rank correlation of the weights it used with the truth."""
    rows = _rows(results, "feedback", "feedback")
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [int(r["round"]) for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5), constrained_layout=True)
    for arm, (label, colour, marker, line) in {
        "learning": ("learning from outcomes", "C0", "o", "-"),
        "prior": ("static prior (never learns)", "C7", "s", "--"),
        "oracle": ("oracle (true weights)", "C2", "^", ":"),
    }.items():
        values = [_nan(r[arm]) for r in rows]
        left.plot(rounds, values, color=colour, marker=marker, linestyle=line, label=label)
    left.set(
        xlabel="round (a fresh cohort each)",
        ylabel="realized mean success of published matches",
        title="Realized success per round",
        xticks=rounds,
    )
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize="small")
    left.grid(alpha=0.3)
    for column, label, style in (
        ("closed", "distance closed, realized success", "-"),
        ("expected closed", "distance closed, expected success", "--"),
    ):
        right.plot(
            rounds,
            [_nan(r[column]) for r in rows],
            color="C0",
            marker="o",
            linestyle=style,
            label=label,
        )
    right.plot(
        rounds,
        [r["Spearman used"] for r in rows],
        color="C1",
        marker="D",
        label="Spearman(weights used, truth)",
    )
    right.axhline(0.7, color="C0", alpha=0.35, linewidth=3, label="target: 70% closed")
    right.axhline(0.8, color="C1", alpha=0.35, linewidth=3, label="target: Spearman 0.8")
    right.set(
        xlabel="round",
        ylabel="share of the distance / rank correlation",
        xticks=rounds,
        title="Learning arm: distance closed, weights' ranks",
    )
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize="small")
    right.grid(alpha=0.3)
    path = path or results / "feedback.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {shown(path)}")
    return path


PLOTS: tuple[Callable[[Path], Path | None], ...] = (scoring, matcher, run, feedback)


def draw_all(results: Path) -> list[Path]:
    """Every plot whose result file exists; the paths drawn."""
    return [path for draw in PLOTS if (path := draw(results)) is not None]

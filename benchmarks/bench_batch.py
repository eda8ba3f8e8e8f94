"""The offline batch end to end: ``mentormatch match`` from CSV files to the written output.

For each size a cohort of n mentees and n mentors is generated (``mentormatch generate``,
``scoring.synthetic``; untimed), then ``mentormatch match`` runs as a fresh process, as
a program manager runs it: "wall s" is that process' wall time, start-up included;
the phases and the peak memory (the process' own ``ru_maxrss``) are read from the
summary the command prints; "cpu s" is its user + system time (on a busy machine the
wall time grows with the load, the CPU time much less). ``--large`` adds cohorts
matched with ``--tolerance`` (the auction path; the proven gap is in the method column)
into their own result, so the default run never erases a large one. Writes
``results/batch.json`` (and ``results/batch_large.json``) and ``results/batch.png``;
``python -m benchmarks.report`` puts the tables into ``benchmarks/README.md``.

    .venv/bin/python -m benchmarks.bench_batch --sizes 1000,10000
    .venv/bin/python -m benchmarks.bench_batch --sizes '' --large 50000 --tolerance 0.0005
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import RESULTS, Table, load_average, plot_lines, save

CLI = str(Path(sys.executable).with_name("mentormatch"))
PHASES = ("read", "score", "assign", "stability", "explain", "write")
COLUMNS = ["n per side", "tolerance", "wall s", "cpu s", *(f"{p} s" for p in PHASES)]
COLUMNS += ["peak MiB", "matched", "method"]
TARGET_10K_SECONDS = 15.0


def _children_cpu() -> float:
    """User + system seconds of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _summary(text: str) -> dict[str, str]:
    """The label -> value lines of the command's summary table."""
    rows = (re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in text.splitlines())
    return {row[0]: row[1] for row in rows if len(row) == 2}


def measure(n: int, tolerance: float, scratch: Path) -> list[object]:
    """One row: generate an n x n cohort, then time ``mentormatch match`` on it."""
    out = scratch / f"c{n}"
    generate = [CLI, "generate", "--mentees", str(n), "--mentors", str(n), "--seed", "1"]
    subprocess.run([*generate, "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    command = [CLI, "match", "--no-progress", "--config", str(out / "program.json")]
    command += ["--mentees", str(out / "mentees.csv"), "--mentors", str(out / "mentors.csv")]
    command += ["--out", str(out / "matches.csv"), "--tolerance", str(tolerance)]
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    summary = _summary(done.stdout)
    phases = dict(re.findall(r"(\w+) ([\d.]+)", summary["seconds"].split("(", 1)[1]))
    row: list[object] = [n, tolerance, round(wall, 2), round(cpu, 2)]
    row += [round(float(phases[p]), 2) if p in phases else None for p in PHASES]
    peak = float(summary["peak memory"].split()[0])
    method = summary["objective"].split("(", 1)[1].rstrip(")")
    row += [round(peak), int(summary["matched"].split()[0]), method]
    print(dict(zip(COLUMNS, row, strict=True)), flush=True)
    return row


def _plot() -> None:
    """Wall time against cohort size, from every batch result file."""
    series: dict[str, tuple[list[float], list[float]]] = {}
    for name in ("batch", "batch_large"):
        path = RESULTS / f"{name}.json"
        if not path.exists():
            continue
        for key, table in json.loads(path.read_text())["tables"].items():
            rows = table["rows"]
            label = "exact" if key == "batch" else "with --tolerance"
            series[label] = ([float(r[0]) for r in rows], [float(r[2]) for r in rows])
    if series:
        plot_lines(
            RESULTS / "batch.png",
            series,
            title="mentormatch match: CSV files to written output",
            xlabel="mentees = mentors",
            ylabel="wall seconds",
            target=TARGET_10K_SECONDS,
        )


def _sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="exact cohorts, e.g. 1000,10000")
    parser.add_argument("--large", default="", help="cohorts matched with --tolerance, e.g. 50000")
    parser.add_argument("--tolerance", type=float, default=0.0005)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        for name, sizes, tolerance in (
            ("batch", _sizes(args.sizes), 0.0),
            ("batch_large", _sizes(args.large), args.tolerance),
        ):
            if not sizes:
                continue
            load_before = load_average()
            rows = [measure(n, tolerance, Path(scratch)) for n in sizes]
            save(name, {name.replace("_", "-"): Table(COLUMNS, rows)}, load_before=load_before)
    _plot()


if __name__ == "__main__":
    main()

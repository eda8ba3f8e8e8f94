"""Start-up of the offline commands: wall time of ``mentormatch --help`` and a small ``match``.

Each command runs ``--runs`` times as a fresh process (as a user's shell or script runs
it), after one untimed warm-up that fills the file cache; the CPU column is the
process' user + system time, which a busy machine inflates much less than wall time.
Beside ``--help`` and the ``--size`` x ``--size`` ``match`` of a generated cohort, two
rows say where the time goes: ``import scoring, matcher`` alone, and the same ``match``
with the text criterion (TF-IDF, :mod:`scoring.text`) removed from the config. Writes
``results/cli.json`` and ``results/cli.png``; ``python -m benchmarks.report`` puts the
table into ``benchmarks/README.md``.

    .venv/bin/python -m benchmarks.bench_cli --runs 5 --size 500
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import RESULTS, ROOT, Table, load_average, save, shown

CLI = str(Path(sys.executable).with_name("mentormatch"))
TARGET_SECONDS = 1.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``command``."""
    cpu = _children_cpu()
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - started, _children_cpu() - cpu


def _times(command: list[str], runs: int) -> list[tuple[float, float]]:
    _run(command)  # warm-up: the file cache, not the interpreter, is shared between runs
    return [_run(command) for _ in range(runs)]


def _without_text(program: Path, out: Path) -> Path:
    document = json.loads(program.read_text())
    config = document["config"]
    config["criteria"] = [c for c in config["criteria"] if c["kind"] != "text_similarity"]
    out.write_text(json.dumps(document))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=500, help="mentees and mentors of the match")
    args = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        n = str(args.size)
        subprocess.run(
            [CLI, "generate", "--mentees", n, "--mentors", n, "--seed", "1", "--out", str(tmp)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        match = [CLI, "match", "--no-progress", "--out", str(tmp / "m.csv")]
        match += ["--mentees", str(tmp / "mentees.csv"), "--mentors", str(tmp / "mentors.csv")]
        plain = _without_text(tmp / "program.json", tmp / "plain.json")
        cases = [
            ("`mentormatch --help`", [CLI, "--help"], TARGET_SECONDS),
            (
                f"`mentormatch match`, {args.size:,} x {args.size:,}",
                [*match, "--config", str(tmp / "program.json")],
                TARGET_SECONDS,
            ),
            (
                f"`mentormatch match`, {args.size:,} x {args.size:,}, no text criterion",
                [*match, "--config", str(plain)],
                None,
            ),
            (
                "`python -c 'import scoring, matcher'`",
                [sys.executable, "-c", "import scoring, matcher"],
                None,
            ),
        ]
        rows = []
        for label, command, target in cases:
            times = _times(command, args.runs)
            median = statistics.median(wall for wall, _ in times)
            cpu = statistics.median(cpu for _, cpu in times)
            verdict = "-" if target is None else ("met" if median < target else "not met")
            runs = ", ".join(f"{wall:.2f}" for wall, _ in times)
            rows.append([label, runs, round(median, 3), round(cpu, 3), verdict])
            print(f"{label}: {runs} (median {median:.3f} s, cpu {cpu:.3f} s)", flush=True)
    save(
        "cli",
        {
            "cli": Table(
                ["command", f"wall s, {args.runs} runs", "median s", "median cpu s", "< 1 s"],
                rows,
            )
        },
        load_before=load_before,
    )
    _plot(rows)


def _plot(rows: list[list[object]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.6), dpi=110)
    labels = [str(r[0]).replace("`", "") for r in rows]
    ax.barh(labels, [float(str(r[2])) for r in rows])
    ax.axvline(TARGET_SECONDS, color="grey", linestyle="--", label="target 1 s")
    ax.set(title="Command start-up (median wall time)", xlabel="seconds")
    ax.invert_yaxis()
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "cli.png")
    plt.close(fig)
    print(f"wrote {shown(RESULTS / 'cli.png')}")


if __name__ == "__main__":
    main()

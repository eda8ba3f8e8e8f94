"""Benchmark of the scoring engine on synthetic cohorts (not a test).

Usage::

    .venv/bin/python -m benchmarks.bench_scoring [--sizes 1000,5000,10000,20000] [--wide 100000]

Writes ``results/scoring.json`` (the cohort table; the reference and the copy bandwidth
in its notes) and ``results/scoring.png``, and with ``--wide`` ``results/scoring_wide.json``
(a file of its own, so a run without ``--wide`` leaves it alone); ``python -m
benchmarks.report`` puts the tables into ``benchmarks/README.md``.

For each size ``n`` (mentees = mentors = n) the cohort and its seven-criterion
config are generated in setup, outside the timing. The timed call is the whole
``scoring.compatibility(mentees, mentors, config)``: config validation,
participant validation and encoding, and the blocked scoring of the dense
float32 matrix plus its allowed mask. Times are the best of ``--repeat`` runs
after one untimed warm-up run (the first large allocation of a process pays for
page faults once). Peak memory is measured in a separate, untimed run with
``tracemalloc`` (NumPy reports its buffers to it; OpenBLAS's own small work
buffers are not included): the peak of traced memory above what was allocated
before the call, against the size of the float32 output matrix.

The per-pair Python reference (``tests/scoring/reference.py``) is timed on a
subsample of mentees against all mentors of the 1k cohort and extrapolated to
the full 1k x 1k. The memory-copy bandwidth is ``np.copyto`` of a 256 MiB
float32 array (bytes read + written per second). ``seconds`` is wall-clock;
``cpu s`` is the process CPU time of the same best run (all threads); the load
average is printed because a busy machine inflates every figure.

``--wide 100000`` adds the access pattern of the matcher on very wide cohorts:
``lazy_compatibility(...).rows(a0, a0 + r)`` and ``.allowed_rows(a0, a0 + r)``
on a cohort of ``--wide-mentees`` mentees x 100,000 mentors, for row blocks of
167 rows (what the matcher asks for at 100k mentors: 2**24 elements per block)
and 1,000 rows; each as one call, and as two concurrent calls from two threads
(the matcher scans from two threads). Figures are M pairs/s of the best of
``--wide-repeat`` calls on different row ranges (median in brackets); ``cpu``
is process CPU time over wall time of the single calls (2.0: both cores busy).
"""

from __future__ import annotations

import argparse
import gc
import os
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

import scoring
from benchmarks import plots
from benchmarks.report import RESULTS, Table, load_average, save
from scoring.engine import Engine
from scoring.synthetic import generate_cohort


def best_time(fn: Callable[[], Any], repeat: int) -> float:
    return best_times(fn, repeat)[0]


def best_times(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU (all threads) seconds of ``repeat`` calls."""
    wall, cpu = [], []
    for _ in range(repeat):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        del result
    return min(wall), min(cpu)


def peak_memory(fn: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    result = fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del result
    return peak


def copy_bandwidth() -> float:
    src = np.ones(64 * 1024 * 1024, dtype=np.float32)  # 256 MiB
    dst = np.zeros_like(src)
    t = best_time(lambda: np.copyto(dst, src), 5)
    return 2 * src.nbytes / t


def reference_seconds(n: int, sample: int) -> float:
    from tests.scoring.reference import reference

    mentees, mentors, config = generate_cohort(n, n, seed=0)
    t0 = time.perf_counter()
    reference(mentees[:sample], mentors, config)
    return (time.perf_counter() - t0) * n / sample


WIDE_COLUMNS = [
    "call",
    "rows",
    "1 call M pairs/s",
    "1 call median",
    "CPU/wall",
    "2 threads M pairs/s",
    "2 threads median",
]
COLUMNS = [
    "n per side",
    "seconds",
    "cpu s",
    "encode s",
    "M pairs/s",
    "peak MiB",
    "output MiB",
    "peak/output",
    "allowed",
]
FORMATS = [None, ".3f", ".2f", ".3f", ".1f", None, None, ".2f", ".1%"]


def wide_rates(n_mentors: int, n_mentees: int, repeat: int) -> list[list[Any]]:
    """Row-block rates of a lazy matrix ``n_mentees x n_mentors`` (see the module docstring);
    one row per call and block height."""
    mentees, mentors, config = generate_cohort(n_mentees, n_mentors, seed=1)
    lazy = scoring.lazy_compatibility(mentees, mentors, config)
    lazy.rows(0, 1)  # fold once, outside the timing
    lazy.allowed_rows(0, 1)

    def both(a: int, b: int) -> None:
        lazy.rows(a, b)
        lazy.allowed_rows(a, b)

    calls: dict[str, Callable[[int, int], Any]] = {
        "rows": lazy.rows,
        "allowed_rows": lazy.allowed_rows,
        "rows + allowed_rows": both,
    }
    print(
        f"\nlazy row blocks at {n_mentees:,} x {n_mentors:,} "
        f"(load average {os.getloadavg()[0]:.2f})"
    )
    header = f"{'call':>20} {'rows':>5} {'1 call M/s':>16} {'cpu':>5} {'2 threads M/s':>16}"
    print(header)
    print("-" * len(header))
    table: list[list[Any]] = []
    for r in (167, 1000):
        for name, fn in calls.items():
            rates: list[str] = []
            row: list[Any] = [name, r]
            cpu_ratio = 0.0
            for threads in (1, 2):
                walls, cpus = [], []
                for k in range(repeat):
                    a0 = (k * threads * r) % (n_mentees - threads * r + 1)
                    workers = [
                        threading.Thread(target=fn, args=(a0 + i * r, a0 + (i + 1) * r))
                        for i in range(threads)
                    ]
                    c0, t0 = time.process_time(), time.perf_counter()
                    for w in workers:
                        w.start()
                    for w in workers:
                        w.join()
                    walls.append(time.perf_counter() - t0)
                    cpus.append(time.process_time() - c0)
                pairs = threads * r * n_mentors / 1e6
                best, median = pairs / min(walls), pairs / float(np.median(walls))
                rates.append(f"{best:>7.0f} ({median:>5.0f})")
                row += [round(best), round(median)]
                if threads == 1:
                    cpu_ratio = sum(cpus) / sum(walls)
                    row.append(round(cpu_ratio, 2))
            print(f"{name:>20} {r:>5} {rates[0]:>16} {cpu_ratio:>5.2f} {rates[1]:>16}", flush=True)
            table.append(row)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,10000,20000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference-sample", type=int, default=20)
    parser.add_argument("--wide", type=int, default=0, help="mentors of the row-block rates")
    parser.add_argument("--wide-mentees", type=int, default=4000)
    parser.add_argument("--wide-repeat", type=int, default=8)
    parser.add_argument(
        "--bandwidth",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure the memory-copy bandwidth first (256 MiB copies)",
    )
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",") if x]

    load_before = load_average()
    print(f"load average before: {load_before:.2f} (above the core count, times inflate)")
    notes = ""
    if args.bandwidth:
        bandwidth = copy_bandwidth() / 1e9
        print(f"memory copy bandwidth (np.copyto, 256 MiB): {bandwidth:.1f} GB/s")
        notes = f" Memory copy bandwidth (np.copyto, 256 MiB) {bandwidth:.1f} GB/s."
    if sizes:
        rows, said = cohort_table(sizes, args.repeat, args.reference_sample)
        notes = said + notes
        table = Table(COLUMNS, rows, FORMATS)
        save("scoring", {"scoring": table}, load_before=load_before, notes=notes)
        plots.scoring(RESULTS)
    if args.wide:  # a result of its own: a run without --wide never erases it
        load_before = load_average()
        rows = wide_rates(args.wide, args.wide_mentees, args.wide_repeat)
        notes = (
            f"{args.wide_mentees:,} mentees x {args.wide:,} mentors; best of "
            f"{args.wide_repeat} calls on different rows; CPU/wall of the single calls."
        )
        table = Table(WIDE_COLUMNS, rows)
        save("scoring_wide", {"scoring-wide": table}, load_before=load_before, notes=notes)


def cohort_table(
    sizes: list[int], repeat: int, reference_sample: int
) -> tuple[list[list[Any]], str]:
    """The whole ``scoring.compatibility`` call per size (one row each, :data:`COLUMNS`),
    and a sentence on the per-pair reference."""
    header = (
        f"{'n per side':>10} {'seconds':>8} {'cpu s':>6} {'encode s':>8} {'M pairs/s':>9} "
        f"{'peak MiB':>9} {'output MiB':>10} {'peak/out':>8} {'allowed':>7}"
    )
    print(header)
    print("-" * len(header))
    timed: dict[int, float] = {}
    rows: list[list[Any]] = []
    for n in sizes:
        mentees, mentors, config = generate_cohort(n, n, seed=0)

        def run(mentees: Any = mentees, mentors: Any = mentors, config: Any = config) -> Any:
            return scoring.compatibility(mentees, mentors, config)

        def encode(mentees: Any = mentees, mentors: Any = mentors, config: Any = config) -> Any:
            return Engine(mentees, mentors, config)

        result = run()  # warm-up, and the allowed share
        allowed_share = float(result.allowed.mean())
        del result
        seconds, cpu = best_times(run, repeat if n <= 10000 else max(1, repeat - 1))
        enc = best_time(encode, 1)
        peak = peak_memory(run)
        out = n * n * 4
        timed[n] = seconds
        print(
            f"{n:>10} {seconds:>8.3f} {cpu:>6.2f} {enc:>8.3f} {n * n / seconds / 1e6:>9.1f} "
            f"{peak / 2**20:>9.0f} {out / 2**20:>10.0f} {peak / out:>8.2f} {allowed_share:>7.1%}",
            flush=True,
        )
        rate = n * n / seconds / 1e6
        rows.append([n, round(seconds, 4), round(cpu, 3), round(enc, 4), round(rate, 2)])
        rows[-1] += [round(peak / 2**20), round(out / 2**20), round(peak / out, 3)]
        rows[-1].append(round(allowed_share, 4))
        del mentees, mentors

    ref_n = 1000
    ref = reference_seconds(ref_n, reference_sample)
    said = (
        f"Per-pair Python reference at {ref_n:,} x {ref_n:,}: {ref:.1f} s "
        f"(extrapolated from {reference_sample} mentees x {ref_n:,} mentors), "
        f"{ref_n * ref_n / ref / 1e6:.3f} M pairs/s"
    )
    if ref_n in timed:
        said += f"; the vectorized call is {ref / timed[ref_n]:.0f}x faster at {ref_n:,}"
    print(f"\n{said}.")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return rows, said + "."


if __name__ == "__main__":
    main()

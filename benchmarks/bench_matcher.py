"""Benchmark of matcher.assign against raw SciPy and a greedy baseline.

Run from the repository root::

    .venv/bin/python -m benchmarks.bench_matcher --sizes 1000 4000 8000
    .venv/bin/python -m benchmarks.bench_matcher --sizes --no-rect --large 50000,100000
    .venv/bin/python -m benchmarks.bench_matcher --sizes --no-rect --both 500:3:3,10000:2:3

Writes ``results/matcher.json`` (the exact cases), ``results/matcher_large.json``
(``--large``) and ``results/matcher_both.json`` (``--both``), each only when its cases
ran, and ``results/matcher.png`` (seconds against n on log axes: SciPy, greedy and the
matcher, and the lazy cases); ``python -m benchmarks.report`` puts the tables into
``benchmarks/README.md``.

Scores come from the scoring engine on synthetic cohorts (``--source scoring``,
the default: ``scoring.synthetic.generate_cohort`` with the design's seven
criteria, its required criteria as the mask and its ``min_score``), or from a
stand-in generator (``--source standin``: low rank + categories, quantized to
1/200 so there are many ties). For 50k/100k the scores are a lazy matrix
(``scoring.lazy_compatibility``, or the stand-in's low-rank factors) that is
never materialized, and solved within ``--tolerance`` (a proven relative gap,
default 0.05%, the issue's target; 0 asks for the certified optimum). Raw SciPy
and greedy see the same problem: pairs outside
the mask or under ``min_score`` are worth 0 to them.
Setup builds the inputs; only the solver calls are timed. Peak memory is the
traced (NumPy) peak of each call; the large cases also print the process'
max RSS. The ``--both`` cases (several mentors per mentee) run each call twice,
traced for the peak, then untraced for the seconds, and print the b-matching's
time against the one-mentor call's and its total against sequential rounds'.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

import matcher
from benchmarks import plots
from benchmarks.report import RESULTS, Table, load_average, save

COLUMNS = ["mentees", "mentors", "mentor cap", "method", "seconds", "total score"]
COLUMNS += ["gap to optimum", "peak GiB"]
LARGE_COLUMNS = ["n per side", "method", "tolerance", "seconds", "total score"]
LARGE_COLUMNS += ["proven gap", "certified", "max RSS GiB"]
BOTH_COLUMNS = ["n per side", "mentee cap", "mentor cap", "method", "seconds", "total score"]
BOTH_COLUMNS += ["gap to b-matching", "peak GiB"]
#: Totals to 3 decimals, gaps as percentages (the JSON keeps fractions).
FORMATS = [None, None, None, None, ".2f", ",.3f", ".3%", ".2f"]
LARGE_FORMATS = [None, None, "g", ".1f", ",.3f", ".4%", None, ".2f"]
BOTH_FORMATS = FORMATS


class StandInScores:
    """Lazy low-rank + categorical scores: rows computed on demand."""

    def __init__(self, n: int, m: int, *, seed: int = 0, rank: int = 8) -> None:
        rng = np.random.default_rng(seed)
        self.a = (rng.standard_normal((n, rank)) * (0.12 / np.sqrt(rank) * 2)).astype(np.float32)
        self.b = rng.standard_normal((m, rank)).astype(np.float32)
        self.ca = rng.integers(0, 5, n).astype(np.int8)
        self.cb = rng.integers(0, 5, m).astype(np.int8)
        self.shape = (n, m)
        self.dtype = np.dtype(np.float32)

    def rows(self, start: int, stop: int) -> NDArray[np.float32]:
        s: NDArray[np.float32] = self.a[start:stop] @ self.b.T
        s += 0.45
        s += 0.2 * (self.ca[start:stop, None] == self.cb[None, :])
        np.multiply(s, 200, out=s)
        np.rint(s, out=s)
        s /= 200
        np.clip(s, 0.0, 1.0, out=s)
        return s

    def allowed_rows(self, start: int, stop: int) -> NDArray[np.bool_]:
        return np.ones((stop - start, self.shape[1]), dtype=np.bool_)


class Problem:
    """One benchmark input: dense scores, mask and threshold, or a lazy matrix."""

    def __init__(self, n: int, m: int, *, source: str, seed: int, lazy: bool = False) -> None:
        self.min_score: float | None = None
        self.allowed: NDArray[np.bool_] | None = None
        if source == "standin":
            stand_in = StandInScores(n, m, seed=seed)
            self.scores: Any = stand_in if lazy else stand_in.rows(0, n)
            return
        import scoring
        from scoring.synthetic import generate_cohort

        mentees, mentors, config = generate_cohort(n, m, seed=seed)
        self.min_score = config.get("min_score")
        if lazy:
            self.scores = scoring.lazy_compatibility(mentees, mentors, config)
            return
        compat = scoring.compatibility(mentees, mentors, config)
        self.scores, self.allowed = compat.scores, compat.allowed

    def weights(self) -> NDArray[Any]:
        """What a solver without masks sees: 0 for pairs it must not take."""
        w = np.asarray(self.scores)
        if self.allowed is not None:
            w = np.where(self.allowed, w, 0)
        if self.min_score is not None:
            w = np.where(w >= self.min_score, w, 0)
        return w


def greedy(s: NDArray[Any], capacity: int, top: int = 50) -> float:
    """Best-pair-first over each mentee's top partners (what many tools do)."""
    n, m = s.shape
    top = min(top, m)
    idx = np.argpartition(s, m - top, axis=1)[:, m - top :]
    rows = np.repeat(np.arange(n), top)
    cols = idx.ravel()
    vals = s[rows, cols]
    order = np.lexsort((cols, rows, -vals))
    load = np.zeros(m, dtype=np.int64)
    taken = np.zeros(n, dtype=np.bool_)
    total = 0.0
    for k in order.tolist():
        i, j = rows[k], cols[k]
        if vals[k] > 0 and not taken[i] and load[j] < capacity:
            taken[i] = True
            load[j] += 1
            total += float(vals[k])
    return total


def timed(fn: Callable[[], float]) -> tuple[float, float, float]:
    tracemalloc.start()
    t0 = time.perf_counter()
    value = fn()
    sec = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**30
    tracemalloc.stop()
    return sec, value, peak


def lsa_total(s: NDArray[Any], capacity: int) -> float:
    cols = np.repeat(np.arange(s.shape[1]), capacity)
    r, c = linear_sum_assignment(s[:, cols], maximize=True)
    return float(s[r, cols[c]].sum(dtype=np.float64))


def run_case(n: int, m: int, capacity: int, lsa_max: int, source: str) -> list[list[Any]]:
    """Raw SciPy (up to ``lsa_max``), greedy and the matcher on one problem: rows of
    :data:`COLUMNS`."""
    prob = Problem(n, m, source=source, seed=n + m)
    w = prob.weights()
    out: dict[str, tuple[float, float, float]] = {}
    if max(n, m) <= lsa_max:
        out["scipy lsa"] = timed(lambda: lsa_total(w, capacity))
    out["greedy"] = timed(lambda: greedy(w, capacity))
    res: list[matcher.Assignment] = []

    def run() -> float:
        res.append(
            matcher.assign(
                prob.scores, capacity=capacity, allowed=prob.allowed, min_score=prob.min_score
            )
        )
        return res[0].total

    out["matcher"] = timed(run)
    best = out["matcher"][1]
    label = f"{n:,} x {m:,}" + (f" cap {capacity}" if capacity > 1 else "")
    rows: list[list[Any]] = []
    for name, (sec, value, peak) in out.items():
        gap = (best - value) / best * 100
        extra = f" ({res[0].method}, certified={res[0].optimal})" if name == "matcher" else ""
        print(
            f"| {label} | {name}{extra} | {sec:.2f} | {value:,.3f} | {gap:.3f}% | {peak:.2f} |",
            flush=True,
        )
        method = f"matcher ({res[0].method}, certified={res[0].optimal})" if extra else name
        rows.append([n, m, capacity, method, round(sec, 3), round(value, 3)])
        rows[-1] += [round(gap / 100, 6), round(peak, 3)]
    return rows


def run_large(n: int, time_limit: float | None, tolerance: float, source: str) -> list[Any]:
    """A lazy n x n cohort solved within ``tolerance``: a row of :data:`LARGE_COLUMNS`."""
    prob = Problem(n, n, source=source, seed=n, lazy=True)
    t0 = time.perf_counter()
    a = matcher.assign(
        prob.scores, min_score=prob.min_score, time_limit=time_limit, tolerance=tolerance
    )
    sec = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"| {n:,} x {n:,} (lazy) | matcher ({a.method}, tolerance {tolerance:g}, "
        f"certified={a.optimal}, proven gap<={a.gap * 100:.4f}%) | {sec:.1f} | {a.total:,.3f} "
        f"| - | {rss:.2f} (max RSS) |",
        flush=True,
    )
    row: list[Any] = [n, f"matcher ({a.method})", tolerance, round(sec, 2), round(a.total, 3)]
    return [*row, float(a.gap), bool(a.optimal), round(rss, 2)]


def sequential_rounds(prob: Problem, mentee_cap: int, capacity: int) -> float:
    """One-to-one rounds (each mentee and mentor at most once a round, no pair twice)."""
    s = np.asarray(prob.scores)
    n, m = s.shape
    allowed = np.ones((n, m), bool) if prob.allowed is None else prob.allowed.copy()
    rows_left = np.full(n, mentee_cap)
    cols_left = np.full(m, capacity)
    total = 0.0
    for _ in range(max(mentee_cap, capacity)):
        a = matcher.assign(
            s,
            capacity=(cols_left > 0).astype(np.int64),
            allowed=allowed & (rows_left > 0)[:, None],
            min_score=prob.min_score,
        )
        total += a.total
        allowed[a.mentee, a.mentor] = False
        np.subtract.at(rows_left, a.mentee, 1)
        np.subtract.at(cols_left, a.mentor, 1)
    return total


def traced_then_timed(fn: Callable[[], float]) -> tuple[float, float, float]:
    """Peak memory from a traced call, then seconds from an untraced one.

    tracemalloc slows NumPy's many small allocations (the b-matching's 500 x 500
    call takes 4x longer traced), so the time comes from a second, untraced call;
    the first call also warms up what every solver shares (thread pool, caches).
    """
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**30
    tracemalloc.stop()
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value, peak


def run_both(n: int, mentee_cap: int, capacity: int, source: str) -> tuple[list[list[Any]], str]:
    """Both sides with capacity: the global b-matching against one-mentor and rounds; rows
    of :data:`BOTH_COLUMNS` and the comparison's sentence."""
    prob = Problem(n, n, source=source, seed=n + n)
    res: list[matcher.Assignment] = []

    def many() -> float:
        res.append(
            matcher.assign(
                prob.scores,
                capacity=capacity,
                mentee_capacity=mentee_cap,
                allowed=prob.allowed,
                min_score=prob.min_score,
            )
        )
        return res[-1].total

    def one() -> float:
        return matcher.assign(
            prob.scores, capacity=capacity, allowed=prob.allowed, min_score=prob.min_score
        ).total

    rounds = max(mentee_cap, capacity)
    out = {
        "matcher one mentor per mentee": traced_then_timed(one),
        f"matcher b-matching (mentee cap {mentee_cap})": traced_then_timed(many),
        f"{rounds} sequential one-to-one rounds": traced_then_timed(
            lambda: sequential_rounds(prob, mentee_cap, capacity)
        ),
    }
    best = res[-1].total
    label = f"{n:,} x {n:,} mentee cap {mentee_cap}, mentor cap {capacity}"
    rows: list[list[Any]] = []
    for name, (sec, value, peak) in out.items():
        extra = f" ({res[-1].method}, certified={res[-1].optimal})" if "b-matching" in name else ""
        print(
            f"| {label} | {name}{extra} | {sec:.2f} | {value:,.3f} | "
            f"{(best - value) / best * 100:.3f}% | {peak:.2f} |",
            flush=True,
        )
        rows.append([n, mentee_cap, capacity, name + extra, round(sec, 3), round(value, 3)])
        rows[-1] += [round((best - value) / best, 6), round(peak, 3)]
    (sec_one, _, _), (sec_many, _, _), (_, total_rounds, _) = out.values()
    said = (
        f"{n:,} x {n:,}: b-matching / one mentor: {sec_many / sec_one:.2f}x the time; "
        f"global total {best:,.3f} vs {rounds} rounds {total_rounds:,.3f} "
        f"(never less: {best >= total_rounds - 1e-9})"
    )
    print(f"|  | {said} | | | | |", flush=True)
    return rows, said


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", type=int, nargs="*", default=[1000, 4000, 8000, 16000])
    p.add_argument("--rect", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--large", type=str, default="")
    p.add_argument("--lsa-max", type=int, default=16000)
    p.add_argument("--time-limit", type=float, default=None)
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.0005,
        help="proven relative gap accepted on the --large cases (0: certified optimum)",
    )
    p.add_argument("--source", choices=["scoring", "standin"], default="scoring")
    p.add_argument(
        "--both",
        type=str,
        default="",
        help="both-sides-capacity cases n:mentee_cap:mentor_cap, comma-separated",
    )
    args = p.parse_args(argv)
    notes = f"Scores: {args.source}."
    print(f"scores: {args.source}")
    print("| case | method | seconds | total score | gap to optimum | peak GiB |")
    print("|---|---|---:|---:|---:|---:|")
    load_before = load_average()
    rows = [row for n in args.sizes for row in run_case(n, n, 1, args.lsa_max, args.source)]
    if args.rect:
        rows += run_case(4000, 1000, 4, args.lsa_max, args.source)
    if rows:  # each kind of case in a file of its own: a run without it leaves it alone
        save(
            "matcher",
            {"matcher": Table(COLUMNS, rows, FORMATS)},
            load_before=load_before,
            notes=notes,
        )
    load_before = load_average()
    large = [
        run_large(n, args.time_limit, args.tolerance, args.source)
        for n in (int(x) for x in args.large.split(",") if x)
    ]
    if large:
        table = Table(LARGE_COLUMNS, large, LARGE_FORMATS)
        save("matcher_large", {"matcher-large": table}, load_before=load_before, notes=notes)
    load_before = load_average()
    both: list[list[Any]] = []
    said: list[str] = []
    for case in (x for x in args.both.split(",") if x):
        n, mentee_cap, capacity = (int(v) for v in case.split(":"))
        case_rows, case_said = run_both(n, mentee_cap, capacity, args.source)
        both += case_rows
        said.append(case_said)
    if both:
        table = Table(BOTH_COLUMNS, both, BOTH_FORMATS)
        notes_both = f"{notes} {'; '.join(said)}."
        save("matcher_both", {"matcher-both": table}, load_before=load_before, notes=notes_both)
    if rows or large:
        plots.matcher(RESULTS)


if __name__ == "__main__":
    main()

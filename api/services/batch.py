"""Offline batch work without the database: synthetic cohorts, and matching CSV files.

:func:`match_files` checks each file exactly as ``POST .../participants`` checks an
upload (the same parser, :func:`~api.services.participants_validation.check_participant`
and duplicate ids, the same messages, keyed ``<file> row N.column``), then across the
two files: each file holds one side, no external id is in both, and every exclusion
names someone in either file. Any problem ends the batch before anything is written.
A blank row is skipped and counted; an inactive participant is not matched, as in a
run, and an inactive mentee is listed as unmatched (reason ``inactive``).

The work goes in phases (:data:`PHASES`), announced to ``on_phase`` as each begins.
Nothing here imports the web stack or the ORM (``tests/services/test_cli_startup.py``).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import resource
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.services import batch_output, csv_format
from api.services.capacity import capacities
from api.services.cohort_matching import DENSE_PAIR_LIMIT, match_cohort
from api.services.errors import ValidationFailed
from api.services.participants_csv import column_of, parse_csv
from api.services.participants_validation import (
    ErrorLog,
    check_participant,
    fields_by_key,
    first_seen,
    id_key,
)
from models.vocabulary import Role
from scoring import ConfigError, validate_config
from scoring.positions import PositionRule
from scoring.synthetic import generate_cohort

#: The phases of :func:`match_files`, in order.
PHASES = ("read", "score", "assign", "explain", "write")
#: The reason given for an inactive mentee, beside the matcher's reasons.
INACTIVE = "inactive"


def generate(n_mentees: int, n_mentors: int, *, seed: int, out: Path) -> list[Path]:
    """Write ``out/mentees.csv``, ``out/mentors.csv`` and ``out/program.json``."""
    mentees, mentors, config = generate_cohort(n_mentees, n_mentors, seed=seed)
    keys = [f["key"] for f in config.get("fields", [])]
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "mentees.csv", out / "mentors.csv", out / "program.json"]
    paths[0].write_text(csv_format.participants_csv(mentees, Role.MENTEE, keys), encoding="utf-8")
    paths[1].write_text(csv_format.participants_csv(mentors, Role.MENTOR, keys), encoding="utf-8")
    program = {"name": f"Synthetic cohort {n_mentees}x{n_mentors} (seed {seed})", "config": config}
    paths[2].write_text(json.dumps(program, indent=2) + "\n", encoding="utf-8")
    return paths


@dataclass(frozen=True)
class Overrides:
    """Values that replace the config file's for one batch (``None``: keep the file's)."""

    objective: str | None = None
    min_score: float | None = None
    default_capacity: int | None = None
    tolerance: float | None = None

    def apply(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        config = dict(raw)
        given = {
            "objective": self.objective,
            "min_score": self.min_score,
            "default_capacity": self.default_capacity,
        }
        config.update({k: v for k, v in given.items() if v is not None})
        return config


@dataclass(frozen=True)
class BatchResult:
    """The run's ``stats`` plus the batch's own counts, seconds per phase, peak memory."""

    stats: dict[str, Any]
    seconds: dict[str, float]
    blank_rows: dict[str, int] = field(default_factory=dict)
    inactive: dict[str, int] = field(default_factory=dict)
    peak_memory_mb: float = 0.0


@dataclass(frozen=True)
class _Side:
    """One file's participants: (row number, cleaned profile) each, and its blank rows."""

    name: str
    rows: list[tuple[int, dict[str, Any]]]
    blank_rows: int


def _read_bytes(path: Path, errors: dict[str, list[str]]) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as exc:
        errors[path.name] = [f"cannot read {str(path)!r}: {exc.strerror or exc}"]
        return None


def _config(path: Path, overrides: Overrides) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    data = _read_bytes(path, errors)
    if data is None:
        raise ValidationFailed(errors)
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed({path.name: [f"not a JSON document: {exc}"]}) from None
    raw = document.get("config", document) if isinstance(document, dict) else document
    if not isinstance(raw, dict):
        raise ValidationFailed({path.name: ["expected a JSON object (a program or its config)"]})
    try:
        return validate_config(overrides.apply(raw))
    except ConfigError as exc:
        raise ValidationFailed({f"{path.name} {k}": v for k, v in exc.errors.items()}) from None


def _side(data: bytes, name: str, role: str, config: Mapping[str, Any], log: ErrorLog) -> _Side:
    """One file read and checked as an upload is; problems go to ``log`` keyed by file."""
    own = ErrorLog(cap=log.cap)
    fields, blank = fields_by_key(config), list[int]()
    try:
        parsed = parse_csv(data, fields, log=own, blank_rows=blank)
    except ValidationFailed as exc:  # the header, or the file as a whole
        _merge(log, name, exc.errors, sum(len(m) for m in exc.errors.values()))
        return _Side(name, [], 0)
    first_seen([(f"row {r.row}.", r.data) for r in parsed], log=own, path=lambda p, c: p + c)
    positions = PositionRule(config)
    rows: list[tuple[int, dict[str, Any]]] = []
    for row in parsed:
        clean, problems = check_participant(row.data, fields, positions=positions)
        own.extend(f"row {row.row}.", ((column_of(p), m) for p, m in problems))
        if not problems and clean["role"] != role:
            got = clean["role"]
            own.add(
                f"row {row.row}.role", f"this file must hold only {str(role)!r} rows; got {got!r}"
            )
        rows.append((row.row, clean))
    _merge(log, name, own.errors, own.total)
    return _Side(name, rows, len(blank))


def _merge(log: ErrorLog, name: str, errors: Mapping[str, list[str]], total: int) -> None:
    """A file's problems into the batch's log, keyed by the file's name."""
    for key, messages in errors.items():
        for message in messages:
            log.add(f"{name} {key}", message)
    log.total += total - sum(len(m) for m in errors.values())  # those past the file's cap


def _across(mentees: _Side, mentors: _Side, log: ErrorLog) -> None:
    """Checks across the two files: an id in both, an exclusion naming nobody."""
    where = {id_key(p["external_id"]): f"{mentees.name} row {n}" for n, p in mentees.rows}
    for n, p in mentors.rows:
        if (also := where.get(id_key(p["external_id"]))) is not None:
            log.add(
                f"{mentors.name} row {n}.external_id",
                f"external_id {p['external_id']!r} is also in {also}; "
                "a participant is a mentee or a mentor",
            )
    known = {*where, *(id_key(p["external_id"]) for _, p in mentors.rows)}
    for side in (mentees, mentors):
        for n, p in side.rows:
            for other in p["exclude"]:
                if id_key(other) not in known:
                    log.add(
                        f"{side.name} row {n}.exclude",
                        f"excludes {other!r}, who is in neither {mentees.name} nor {mentors.name}",
                    )


def _read(mentees_path: Path, mentors_path: Path, config: Mapping[str, Any]) -> tuple[_Side, _Side]:
    errors: dict[str, list[str]] = {}
    data = {p: _read_bytes(p, errors) for p in (mentees_path, mentors_path)}
    if errors:
        raise ValidationFailed(errors)
    log = ErrorLog()
    names = (mentees_path.name, mentors_path.name)
    if names[0] == names[1]:
        names = (str(mentees_path), str(mentors_path))
    mentees = _side(data[mentees_path] or b"", names[0], Role.MENTEE, config, log)
    mentors = _side(data[mentors_path] or b"", names[1], Role.MENTOR, config, log)
    if not log.total:
        _across(mentees, mentors, log)
    if log.total:
        shown = min(log.total, log.cap)
        detail = f"{log.total} problem(s) found; nothing was written"
        if log.total > log.cap:
            detail += f" (the first {shown} are listed)"
        raise ValidationFailed(log.errors, detail=detail)
    return mentees, mentors


def match_files(
    config_path: Path,
    mentees_path: Path,
    mentors_path: Path,
    out: Path,
    *,
    fmt: str = "csv",
    unmatched_out: Path | None = None,
    overrides: Overrides | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> BatchResult:
    """Match the participants of two upload-format CSVs; write the pairs to ``out``.

    ``config_path`` holds ``{"name", "config"}`` (as ``generate`` writes) or a bare config;
    ``overrides`` replace its values before it is validated. ``fmt`` is one of
    :data:`api.services.batch_output.FORMATS`; ``unmatched_out``, if given, receives
    the unmatched mentees with their reasons (CSV). Raises ValidationFailed, naming
    the file, row and column, before writing anything.
    """
    with _collector_paused():
        return _match(
            config_path, mentees_path, mentors_path, out, fmt, unmatched_out, overrides, on_phase
        )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the batch, then as it was.

    A batch builds hundreds of thousands of small, long-lived containers (rows,
    profiles, explanations) and nearly no cycles; each full collection walks them
    all again, which took half of the reading (10k x 10k: 0.6 s of 1.2 s). Reference
    counting still frees everything the batch drops.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _small_pages(wanted: bool) -> Iterator[None]:
    """NumPy's transparent huge pages off (when ``wanted``), then as they were.

    NumPy asks for huge pages on large arrays. On the 2-core benchmark machine (a
    virtual machine) a fresh huge page is far dearer to fault in than small pages
    when a few large arrays are filled once, as dense scoring and its assignment do:
    10k x 10k spent 2.6 s of system time with them, 1.2 s without. Lazy scoring
    allocates the same row blocks again and again, where huge pages are reused and
    small ones faulted in anew each time (20k x 20k with a tolerance: 3.6 s of system
    time with them, 5.7 s without), so only dense cohorts turn them off.
    ``NUMPY_MADVISE_HUGEPAGE`` set in the environment is left to decide.
    """
    before = _hugepages(False) if wanted else None
    try:
        yield
    finally:
        if before is not None:
            _hugepages(before)


def _hugepages(enabled: bool) -> bool | None:
    """Set NumPy's use of huge pages for new arrays; the previous setting, or None when
    the environment chose (``NUMPY_MADVISE_HUGEPAGE``) or this NumPy has no such switch."""
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return None
    try:  # NumPy's "global state" switch (its documentation: Global state, madvise)
        switch = importlib.import_module("numpy._core.multiarray")._set_madvise_hugepage
    except (ImportError, AttributeError):
        return None
    return bool(switch(enabled))


def _match(
    config_path: Path,
    mentees_path: Path,
    mentors_path: Path,
    out: Path,
    fmt: str,
    unmatched_out: Path | None,
    overrides: Overrides | None,
    on_phase: Callable[[str], None] | None,
) -> BatchResult:
    overrides = overrides or Overrides()
    notify = on_phase or (lambda _phase: None)
    seconds: dict[str, float] = {}
    notify("read")
    started = time.perf_counter()
    config = _config(config_path, overrides)
    mentees_side, mentors_side = _read(mentees_path, mentors_path, config)
    mentees = [p for _, p in mentees_side.rows if p["active"]]
    mentors = [p for _, p in mentors_side.rows if p["active"]]
    inactive = [p for _, p in mentees_side.rows if not p["active"]]
    seconds["read"] = time.perf_counter() - started
    notify("score")

    following = {"scored": "assign", "assigned": "explain", "explained": "write"}
    with _small_pages(len(mentees) * len(mentors) <= DENSE_PAIR_LIMIT):
        result = match_cohort(
            mentees,
            mentors,
            config,
            capacity=capacities(mentors, config),
            tolerance=overrides.tolerance,
            on_phase=lambda done: notify(following[done]),
        )
    seconds.update(result.seconds)

    started = time.perf_counter()
    pairs = [
        batch_output.Pair(
            mentees[int(i)]["external_id"], mentors[int(j)]["external_id"], e.score, e.reasons
        )
        for i, j, e in zip(result.mentee, result.mentor, result.explanations, strict=True)
    ]
    unmatched = [
        batch_output.Unmatched(mentees[int(i)]["external_id"], mentees[int(i)]["name"], reason)
        for i, reason in zip(result.unmatched, result.unmatched_reasons, strict=True)
    ]
    unmatched += [batch_output.Unmatched(p["external_id"], p["name"], INACTIVE) for p in inactive]
    stats = dict(result.stats)
    if inactive:
        by_reason = {**stats["unmatched_by_reason"], INACTIVE: len(inactive)}
        stats.update(
            n_mentees=stats["n_mentees"] + len(inactive),
            unmatched=stats["unmatched"] + len(inactive),
            unmatched_by_reason=dict(sorted(by_reason.items())),
        )
    batch_output.write(out, fmt, pairs, unmatched, stats)
    if unmatched_out is not None:
        batch_output.write_unmatched(unmatched_out, unmatched)
    seconds["write"] = time.perf_counter() - started
    return BatchResult(
        stats,
        seconds,
        blank_rows={s.name: s.blank_rows for s in (mentees_side, mentors_side)},
        inactive={
            mentees_side.name: len(inactive),
            mentors_side.name: sum(1 for _, p in mentors_side.rows if not p["active"]),
        },
        peak_memory_mb=peak_memory_mb(),
    )


def peak_memory_mb() -> float:
    """This process's peak resident memory so far, in MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

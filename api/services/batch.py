"""Offline batch work without the database: synthetic cohorts, and matching CSV files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.services import csv_format, eligibility
from api.services.errors import ValidationFailed
from api.services.runs.matching import match_cohort
from models.vocabulary import Role
from scoring import ConfigError, validate_config
from scoring.synthetic import generate_cohort


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
class BatchResult:
    stats: dict[str, Any]
    seconds: dict[str, float]


def match_files(
    config_path: Path, mentees_path: Path, mentors_path: Path, out: Path
) -> BatchResult:
    """Match the participants of two upload-format CSVs; write one row per mentee to ``out``.

    ``config_path`` holds ``{"name", "config"}`` (as ``generate`` writes) or a bare config.
    Unmatched mentees get an empty mentor and their reason.
    """
    document = json.loads(config_path.read_text(encoding="utf-8"))
    raw = document.get("config", document) if isinstance(document, dict) else document
    try:
        config = validate_config(raw)
    except ConfigError as exc:
        raise ValidationFailed(exc.errors) from None
    mentees, stray_mentors = csv_format.read_participants(mentees_path.read_bytes(), config)
    stray_mentees, mentors = csv_format.read_participants(mentors_path.read_bytes(), config)
    # Each file holds one side: a swapped or mixed file is a mistake, not a merge.
    wrong = {
        str(mentees_path): (stray_mentors, Role.MENTOR, Role.MENTEE),
        str(mentors_path): (stray_mentees, Role.MENTEE, Role.MENTOR),
    }
    errors = {
        name: [f"{len(rows)} row(s) have role '{found}'; this file must hold only '{want}' rows"]
        for name, (rows, found, want) in wrong.items()
        if rows
    }
    if errors:
        raise ValidationFailed(errors)
    result = match_cohort(
        mentees, mentors, config, capacity=eligibility.capacities(mentors, config)
    )
    rows: list[tuple[Any, ...]] = [
        (mentees[int(i)]["external_id"], mentors[int(j)]["external_id"], e.score, e.reasons)
        for i, j, e in zip(result.mentee, result.mentor, result.explanations, strict=True)
    ]
    rows += [
        (mentees[int(i)]["external_id"], None, None, [f"unmatched: {reason}"])
        for i, reason in zip(result.unmatched, result.unmatched_reasons, strict=True)
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(csv_format.matches_csv(rows), encoding="utf-8")
    return BatchResult(result.stats, result.seconds)

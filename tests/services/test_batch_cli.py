"""The offline commands: ``mentormatch generate`` then ``mentormatch match`` (no database)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner, Result

import matcher
import scoring
from api.cli import main
from api.services import csv_format

#: The upload format's header before the program's fields (DESIGN section 3, contract).
CONTRACT_HEADER = (
    "external_id,role,name,email,position,level,skills,capacity,exclude".split(",")  # noqa: SIM905
)


def _generate(tmp_path: Path) -> Path:
    out = tmp_path / "cohort"
    args = ["generate", "--mentees", "60", "--mentors", "40", "--seed", "5", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out


def _match(out: Path, mentees: str, mentors: str, target: Path) -> Result:
    args = ["match", "--config", str(out / "program.json"), "--out", str(target)]
    args += ["--mentees", str(out / mentees), "--mentors", str(out / mentors)]
    return CliRunner().invoke(main, args)


def test_generate_writes_the_upload_format(tmp_path: Path) -> None:
    out = _generate(tmp_path)
    program = json.loads((out / "program.json").read_text())
    assert scoring.validate_config(program["config"])
    header = (out / "mentees.csv").read_text().splitlines()[0].split(",")
    assert header == [*CONTRACT_HEADER, *(f["key"] for f in program["config"]["fields"])]
    mentees, mentors = csv_format.read_participants(
        (out / "mentees.csv").read_bytes(), program["config"]
    )
    assert len(mentees) == 60
    assert mentors == []


def test_match_writes_the_optimal_pairs(tmp_path: Path) -> None:
    out = _generate(tmp_path)
    result = _match(out, "mentees.csv", "mentors.csv", tmp_path / "matches.csv")
    assert result.exit_code == 0, result.output
    with (tmp_path / "matches.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 60  # one row per mentee, matched or not
    paired = [r for r in rows if r["mentor_external_id"]]

    # The same cohort through the library reaches the same optimum, within capacity.
    config = json.loads((out / "program.json").read_text())["config"]
    mentees, _ = csv_format.read_participants((out / "mentees.csv").read_bytes(), config)
    _, mentors = csv_format.read_participants((out / "mentors.csv").read_bytes(), config)
    compat = scoring.compatibility(mentees, mentors, config)
    capacity = {m["external_id"]: m.get("capacity") or 1 for m in mentors}
    best = matcher.assign(
        compat.scores,
        allowed=compat.allowed,
        capacity=np.array(list(capacity.values())),
        min_score=config["min_score"],
    )
    assert len(paired) == best.n_matched == 60  # this cohort has room for everyone
    assert abs(sum(float(r["score"]) for r in paired) - best.total) < 1e-3
    # Each row explains its own pair, as the scoring engine does.
    row_of = {m["external_id"]: k for k, m in enumerate(mentees)}
    col_of = {m["external_id"]: k for k, m in enumerate(mentors)}
    explained = scoring.explain(
        compat,
        np.array([row_of[r["mentee_external_id"]] for r in paired]),
        np.array([col_of[r["mentor_external_id"]] for r in paired]),
    )
    assert [r["reasons"] for r in paired] == ["; ".join(e.reasons) for e in explained]
    load: dict[str, int] = {}
    for r in paired:
        load[r["mentor_external_id"]] = load.get(r["mentor_external_id"], 0) + 1
    assert all(load[m] <= capacity[m] for m in load)


def test_match_refuses_swapped_files(tmp_path: Path) -> None:
    out = _generate(tmp_path)
    result = _match(out, "mentors.csv", "mentees.csv", tmp_path / "matches.csv")
    assert result.exit_code != 0
    assert "must hold only 'mentee' rows" in result.output
    assert not (tmp_path / "matches.csv").exists()


def test_match_reports_a_bad_config(tmp_path: Path) -> None:
    out = _generate(tmp_path)
    (out / "program.json").write_text(json.dumps({"config": {"criteria": [{"kind": "magic"}]}}))
    result = _match(out, "mentees.csv", "mentors.csv", tmp_path / "matches.csv")
    assert result.exit_code != 0
    assert "magic" in result.output


def test_matches_csv_escapes_formulas_like_every_csv_download() -> None:
    text = csv_format.matches_csv([("=cmd|'/c calc'!A1", "@m1", 0.5, ["-2 skills", "ok"])])
    assert text.startswith("\ufeff")
    row = next(csv.DictReader(text.removeprefix("\ufeff").splitlines()))
    assert row == {
        "mentee_external_id": "'=cmd|'/c calc'!A1",
        "mentor_external_id": "'@m1",
        "score": "0.500000",
        "reasons": "'-2 skills; ok",
    }

"""``mentormatch match``: every door's checks (exit 2, file, row and column named), outputs,
overrides, the summary and the progress display."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from openpyxl import load_workbook

from api.cli import main


@pytest.fixture
def cohort(tmp_path: Path) -> Path:
    out = tmp_path / "cohort"
    args = ["generate", "--mentees", "40", "--mentors", "30", "--seed", "3", "--out", str(out)]
    assert CliRunner().invoke(main, args).exit_code == 0
    return out


def _match(cohort: Path, *extra: str, mentees: str = "mentees.csv") -> Result:
    args = ["match", "--config", str(cohort / "program.json"), "--out", str(cohort / "out.csv")]
    args += ["--mentees", str(cohort / mentees), "--mentors", str(cohort / "mentors.csv")]
    return CliRunner().invoke(main, [*args, *extra])


def _edit(path: Path, row: int, column: str, value: str) -> None:
    """Set one cell (row as a spreadsheet numbers it: the header is row 1)."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    rows[row - 1][rows[0].index(column)] = value
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def _cell(path: Path, row: int, column: str) -> str:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    return rows[row - 1][rows[0].index(column)]


@pytest.mark.parametrize(
    ("file", "column", "value", "message"),
    [
        ("mentees.csv", "role", "boss", "must be one of: mentor, mentee; got 'boss'"),
        ("mentees.csv", "email", "not-an-email", "not an email address"),
        ("mentors.csv", "capacity", "1000000", "capacity must be a whole number from 0 to"),
        ("mentors.csv", "capacity", "-1", "capacity must be a whole number from 0 to"),
        ("mentees.csv", "exclude", "nobody-at-all", "excludes 'nobody-at-all', who is in neither"),
    ],
)
def test_a_bad_cell_exits_2_naming_file_row_and_column(
    cohort: Path, file: str, column: str, value: str, message: str
) -> None:
    _edit(cohort / file, 4, column, value)
    result = _match(cohort)
    assert result.exit_code == 2, result.output
    assert f"{file} row 4.{column}: " in result.output
    assert message in result.output
    assert not (cohort / "out.csv").exists()


def test_an_id_in_both_files_exits_2(cohort: Path) -> None:
    mentee = _cell(cohort / "mentees.csv", 3, "external_id")
    _edit(cohort / "mentors.csv", 5, "external_id", mentee)
    result = _match(cohort)
    assert result.exit_code == 2
    assert f"mentors.csv row 5.external_id: external_id {mentee!r} is also in" in result.output
    assert "mentees.csv row 3" in result.output


def test_a_duplicate_id_in_one_file_exits_2_as_an_upload_does(cohort: Path) -> None:
    _edit(cohort / "mentees.csv", 6, "external_id", _cell(cohort / "mentees.csv", 2, "external_id"))
    result = _match(cohort)
    assert result.exit_code == 2
    assert "mentees.csv row 6.external_id: duplicate external_id" in result.output


def test_a_config_that_does_not_fit_the_files_exits_2(cohort: Path) -> None:
    program = json.loads((cohort / "program.json").read_text())
    program["config"]["fields"] = [f for f in program["config"]["fields"] if f["key"] != "goals"]
    program["config"]["criteria"] = [
        c for c in program["config"]["criteria"] if c.get("field") != "goals"
    ]
    (cohort / "program.json").write_text(json.dumps(program))
    result = _match(cohort)
    assert result.exit_code == 2, result.output
    assert "mentees.csv header: " in result.output
    assert "unknown column 'goals'" in result.output


def test_a_missing_file_exits_2_naming_it(cohort: Path) -> None:
    result = _match(cohort, mentees="nowhere.csv")
    assert result.exit_code == 2
    assert "nowhere.csv" in result.output


def test_a_file_that_is_not_utf8_exits_2(cohort: Path) -> None:
    path = cohort / "mentees.csv"
    path.write_bytes(path.read_bytes().replace(b"\n", "é\n".encode("latin-1"), 3))
    result = _match(cohort)
    assert result.exit_code == 2
    assert "mentees.csv csv: not UTF-8 text" in result.output


def test_a_csv_saved_by_excel_with_bom_and_crlf_and_a_blank_row_is_read(cohort: Path) -> None:
    path = cohort / "mentees.csv"
    text = path.read_text(encoding="utf-8").replace("\n", "\r\n")
    path.write_bytes(("\ufeff" + text + ",,,,\r\n").encode("utf-8"))
    result = _match(cohort)
    assert result.exit_code == 0, result.output
    assert "mentees  " in result.output
    assert "40" in result.output
    assert "blank rows      mentees.csv 1" in result.output


def test_a_bad_row_in_an_excel_file_names_its_row(cohort: Path) -> None:
    _edit(cohort / "mentees.csv", 3, "role", "boss")
    path = cohort / "mentees.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    result = _match(cohort)
    assert result.exit_code == 2
    assert "mentees.csv row 3.role: must be one of" in result.output


def test_a_usage_error_exits_1(cohort: Path) -> None:
    assert _match(cohort, "--format", "pdf").exit_code == 1
    assert CliRunner().invoke(main, ["match"]).exit_code == 1


def test_xlsx_holds_every_pair_and_the_unmatched(cohort: Path) -> None:
    out = cohort / "pairs.xlsx"
    result = _match(cohort, "--format", "xlsx", "--out", str(out), "--min-score", "0.75")
    assert result.exit_code == 0, result.output
    book = load_workbook(out, read_only=True)
    pairs = list(book["pairs"].iter_rows(values_only=True))
    unmatched = list(book["unmatched"].iter_rows(values_only=True))
    assert pairs[0] == ("mentee_external_id", "mentor_external_id", "score", "top_reasons")
    assert len(pairs) - 1 + len(unmatched) - 1 == 40
    assert all(isinstance(row[2], float) and row[2] >= 0.75 for row in pairs[1:])
    assert len(unmatched) > 1  # the threshold left some out


def test_xlsx_cells_are_formula_escaped(cohort: Path) -> None:
    _edit(cohort / "mentees.csv", 2, "name", "=HYPERLINK(1)")
    out = cohort / "pairs.xlsx"
    result = _match(cohort, "--format", "xlsx", "--out", str(out), "--min-score", "0.99")
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out, read_only=True)["unmatched"]
    names = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert "'=HYPERLINK(1)" in names


def test_unmatched_file_and_overrides(cohort: Path) -> None:
    target = cohort / "unmatched.csv"
    args = ["--unmatched", str(target), "--capacity", "0", "--min-score", "0.7"]
    result = _match(cohort, *args, "--format", "json")
    assert result.exit_code == 0, result.output
    with target.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    with (cohort / "mentors.csv").open(encoding="utf-8", newline="") as f:
        own = sum(int(r["capacity"]) for r in csv.DictReader(f) if r["capacity"])
    document = json.loads((cohort / "out.csv").read_text())
    assert document["stats"]["capacity"] == own  # mentors without their own take none
    assert document["stats"]["min_score"] == 0.7
    assert all(p["score"] >= 0.7 for p in document["pairs"])
    assert rows
    assert all(r["reason"] for r in rows)
    assert len(document["pairs"]) + len(rows) == 40
    assert document["stats"]["unmatched"] == len(rows)


def test_objective_and_tolerance_reach_the_matcher(cohort: Path) -> None:
    fair = _match(cohort, "--objective", "fair", "--format", "json")
    assert fair.exit_code == 0, fair.output
    assert json.loads((cohort / "out.csv").read_text())["stats"]["objective"] == "fair"
    loose = _match(cohort, "--tolerance", "0.05", "--format", "json")
    assert loose.exit_code == 0, loose.output
    assert json.loads((cohort / "out.csv").read_text())["stats"]["gap"] <= 0.05
    refused = _match(cohort, "--tolerance", "0.05", "--objective", "fair")
    assert refused.exit_code == 2
    assert "only objective 'total' accepts a gap" in refused.output


def test_the_summary_and_no_progress_when_piped(cohort: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "match",
            "--config",
            str(cohort / "program.json"),
            "--mentees",
            str(cohort / "mentees.csv"),
            "--mentors",
            str(cohort / "mentors.csv"),
            "--out",
            str(cohort / "out.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    labels = [line.split("  ")[0] for line in result.stdout.splitlines()]
    for label in ("mentees", "mentors", "matched", "unmatched", "score total", "score mean"):
        assert label in labels
    for label in ("score min", "blocking pairs", "seconds", "peak memory"):
        assert label in labels
    assert "MiB" in result.stdout
    assert result.stderr == ""  # not a terminal: no progress


def test_progress_forced_on_shows_each_phase(cohort: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "match",
            "--progress",
            "--config",
            str(cohort / "program.json"),
            "--mentees",
            str(cohort / "mentees.csv"),
            "--mentors",
            str(cohort / "mentors.csv"),
            "--out",
            str(cohort / "out.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    for phase in ("read", "score", "assign", "explain", "write"):
        assert phase in result.stderr


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("mentormatch, version ")


def test_the_configs_tolerance_holds_unless_the_command_gives_one(cohort: Path) -> None:
    program = json.loads((cohort / "program.json").read_text())
    program["config"]["tolerance"] = 0.05
    (cohort / "program.json").write_text(json.dumps(program))
    from_config = _match(cohort, "--format", "json")
    assert from_config.exit_code == 0, from_config.output
    assert json.loads((cohort / "out.csv").read_text())["stats"]["tolerance"] == 0.05
    exact = _match(cohort, "--tolerance", "0", "--format", "json")
    assert exact.exit_code == 0, exact.output
    assert json.loads((cohort / "out.csv").read_text())["stats"]["tolerance"] == 0.0

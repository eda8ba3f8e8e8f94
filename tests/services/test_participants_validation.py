"""Unit tests of participant checks and the CSV upload format (pure: no database)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from api.services.errors import ValidationFailed
from api.services.participants_csv import column_of, parse_csv
from api.services.participants_validation import ErrorLog, check_participant, fields_by_key
from scoring.limits import MAX_CAPACITY, MAX_LEVEL
from scoring.positions import PositionRule

FIELDS = fields_by_key(
    {
        "fields": [
            {"key": "department", "type": "category", "values": ["Eng", "Sales"]},
            {"key": "languages", "type": "multi"},
            {"key": "track", "type": "multi", "values": ["backend", "frontend"]},
            {"key": "utc_offset", "type": "number"},
            {"key": "goals", "type": "text"},
        ]
    }
)
BASE = {"external_id": "u1", "role": "mentor", "name": "Ann"}
ANY = PositionRule({})  # no position_levels: any position


def problems(data: dict[str, Any]) -> dict[str, str]:
    _, found = check_participant(data, FIELDS, positions=ANY)
    return dict(found)


def test_a_minimal_participant_gets_defaults() -> None:
    clean, found = check_participant(BASE, FIELDS, positions=ANY)
    assert found == []
    assert clean == {
        **BASE,
        "email": None,
        "position": None,
        "level": None,
        "skills": [],
        "capacity": None,
        "attributes": {},
        "exclude": [],
        "active": True,
    }


def test_values_are_normalized() -> None:
    clean, found = check_participant(
        {
            **BASE,
            "name": "  Ann  ",
            "skills": [" python", "python ", "sql"],
            "attributes": {
                "department": "eng",
                "track": ["Backend"],
                "utc_offset": 2,
                "goals": None,
            },
        },
        FIELDS,
        positions=ANY,
    )
    assert found == []
    assert clean["name"] == "Ann"
    assert clean["skills"] == ["python", "sql"]
    # category and multi values take their declared spelling; null means "unknown"
    assert clean["attributes"] == {"department": "Eng", "track": ["backend"], "utc_offset": 2}


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"role": "boss"}, "role"),
        ({"role": None}, "role"),
        ({"name": "   "}, "name"),
        ({"external_id": ""}, "external_id"),
        ({"email": "not-an-email"}, "email"),
        ({"level": -1}, "level"),
        ({"level": 2.5}, "level"),
        ({"level": True}, "level"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": "2"}, "capacity"),
        ({"role": "mentee", "capacity": 10_001}, "capacity"),  # bounded for mentees too
        ({"skills": "python"}, "skills"),
        ({"skills": ["ok", 3]}, "skills.1"),
        ({"exclude": [""]}, "exclude.0"),
        ({"active": "yes"}, "active"),
        ({"attributes": ["eng"]}, "attributes"),
        ({"attributes": {"religion": "x"}}, "attributes.religion"),
        ({"attributes": {"department": "Marketing"}}, "attributes.department"),
        ({"attributes": {"department": 3}}, "attributes.department"),
        ({"attributes": {"languages": "en"}}, "attributes.languages"),
        ({"attributes": {"track": ["backend", "ops"]}}, "attributes.track.1"),
        ({"attributes": {"utc_offset": "3"}}, "attributes.utc_offset"),
        ({"attributes": {"utc_offset": math.inf}}, "attributes.utc_offset"),
        ({"attributes": {"utc_offset": math.nan}}, "attributes.utc_offset"),
        ({"attributes": {"utc_offset": False}}, "attributes.utc_offset"),
        ({"attributes": {"goals": ["a"]}}, "attributes.goals"),
        ({"nickname": "A"}, "nickname"),
        # bounds (once a 500: "Python int too large to convert to SQLite INTEGER")
        ({"level": MAX_LEVEL + 1}, "level"),
        ({"level": 10**20}, "level"),
        ({"capacity": MAX_CAPACITY + 1}, "capacity"),
        ({"capacity": 10**20}, "capacity"),
        ({"capacity": 2**40}, "capacity"),
        # math.isfinite(10**400) raises OverflowError
        ({"attributes": {"utc_offset": 10**400}}, "attributes.utc_offset"),
        ({"attributes": {"utc_offset": -(10**400)}}, "attributes.utc_offset"),
        # control characters: PostgreSQL refuses NUL in text
        ({"name": "Ann\x00"}, "name"),
        ({"external_id": "u\x001"}, "external_id"),
        ({"email": "a\x00@x.example"}, "email"),
        ({"position": "Lead\x1f"}, "position"),
        ({"skills": ["ok", "s\x00ql"]}, "skills.1"),
        ({"exclude": ["\x00"]}, "exclude.0"),
        ({"attributes": {"goals": "grow\x00"}}, "attributes.goals"),
        ({"attributes": {"goals": "bell\x07"}}, "attributes.goals"),
        ({"attributes": {"department": "Eng\x00"}}, "attributes.department"),
        ({"attributes": {"track": ["backend\x00"]}}, "attributes.track.0"),
    ],
)
def test_each_bad_value_is_named(change: dict[str, Any], path: str) -> None:
    found = problems({**BASE, **change})
    assert path in found, found
    assert len(found) == 1, found


def test_required_fields_are_reported_together() -> None:
    assert set(problems({})) == {"external_id", "role", "name"}


def test_an_unknown_attribute_lists_the_programs_fields() -> None:
    message = problems({**BASE, "attributes": {"dept": "Eng"}})["attributes.dept"]
    assert "department, languages, track, utc_offset, goals" in message


def test_error_log_caps_messages_but_counts_all() -> None:
    log = ErrorLog(cap=3)
    for i in range(5):
        log.add(f"items.{i}.role", "bad")
    with pytest.raises(ValidationFailed) as caught:
        log.raise_if_any()
    assert len(caught.value.errors) == 3
    assert "5 problem(s)" in caught.value.detail
    assert "first 3" in caught.value.detail


HEADER = (
    "external_id,role,name,email,position,level,skills,capacity,exclude,"
    "department,languages,utc_offset"
)


def parse(text: str, *, expect_ok: bool = True) -> tuple[list[Any], ErrorLog]:
    log = ErrorLog()
    rows = parse_csv(text.encode(), FIELDS, log=log)
    if expect_ok:
        assert log.errors == {}
    return rows, log


def test_csv_cells_are_typed_per_column() -> None:
    rows, _ = parse(
        f"{HEADER}\n"
        "u1,Mentor,Ann,ann@x.example,Senior,3,python; sql ;,2,u2;u3,eng,en;fr,-3.5\n"
        "u2,mentee,Bob,,,,,,,,,\n"
    )
    assert [r.row for r in rows] == [2, 3]
    assert rows[0].data == {
        "external_id": "u1",
        "role": "mentor",
        "name": "Ann",
        "email": "ann@x.example",
        "position": "Senior",
        "level": 3,
        "skills": ["python", "sql"],
        "capacity": 2,
        "exclude": ["u2", "u3"],
        "attributes": {"department": "eng", "languages": ["en", "fr"], "utc_offset": -3.5},
    }
    # an empty cell is an empty value: it clears what an update would keep otherwise
    assert rows[1].data["level"] is None
    assert rows[1].data["skills"] == []
    assert rows[1].data["attributes"] == {"department": None, "languages": None, "utc_offset": None}


def test_csv_row_numbers_are_spreadsheet_rows() -> None:
    """Header is row 1; blank rows are skipped but still counted; quoted newlines stay."""
    text = f'{HEADER}\n\nu1,mentor,"Ann\nLee",,,x,,,,,,\n,,,,,,,,,,,\nu2,mentee,Bob,,,,,,,,,nan\n'
    rows, log = parse(text, expect_ok=False)
    assert log.errors == {
        "row 3.level": ["expected a whole number, got 'x'"],
        "row 5.utc_offset": ["expected a finite number, got 'nan'"],
    }
    assert [r.row for r in rows] == [3, 5]


def test_csv_columns_may_come_in_any_order_and_bom_is_ignored() -> None:
    rows, _ = parse("\ufeffname,role,external_id,active\nAnn,mentee,u1,no\n")
    assert rows[0].data == {"name": "Ann", "role": "mentee", "external_id": "u1", "active": False}


def test_csv_ragged_row_is_reported() -> None:
    _, log = parse("external_id,role,name\nu1,mentor\n", expect_ok=False)
    assert log.errors == {"row 2": ["expected 3 cells as in the header, got 2"]}


@pytest.mark.parametrize(
    ("text", "key", "needle"),
    [
        ("", "csv", "empty upload"),
        ("external_id,role,name\n", "csv", "no participant rows"),
        ("external_id,name\nu1,A\n", "header", "missing required column(s): role"),
        ("external_id,role,name,dept\n", "header", "unknown column 'dept'"),
        ("external_id,role,name,name\n", "header", "duplicate column 'name'"),
    ],
)
def test_csv_header_problems(text: str, key: str, needle: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(text)
    assert needle in " ".join(caught.value.errors[key])


def test_csv_must_be_utf8() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_csv(
            "external_id,role,name\nu1,mentor,Zo\xeb\n".encode("latin-1"), FIELDS, log=ErrorLog()
        )
    assert "UTF-8" in caught.value.errors["csv"][0]


def test_column_of_maps_problem_paths_to_csv_columns() -> None:
    assert column_of("attributes.department") == "department"
    assert column_of("attributes.track.1") == "track"
    assert column_of("skills.2") == "skills"
    assert column_of("role") == "role"


def test_bounds_are_inclusive_and_messages_name_field_and_bound() -> None:
    at_bounds = {**BASE, "level": MAX_LEVEL, "capacity": MAX_CAPACITY}
    assert problems(at_bounds) == {}
    assert problems({**BASE, "level": 0, "capacity": 0}) == {}
    found = problems({**BASE, "level": MAX_LEVEL + 1, "capacity": 10**20})
    assert found["level"].startswith(f"level must be a whole number from 0 to {MAX_LEVEL}")
    assert found["capacity"].startswith(f"capacity must be a whole number from 0 to {MAX_CAPACITY}")


def test_tabs_and_line_breaks_are_allowed_in_text() -> None:
    clean, found = check_participant(
        {**BASE, "attributes": {"goals": "grow\n\tlead\r\n"}, "name": "Ann\tLee"},
        FIELDS,
        positions=ANY,
    )
    assert found == []
    assert clean["attributes"]["goals"] == "grow\n\tlead\r\n"
    assert clean["name"] == "Ann\tLee"


@pytest.mark.parametrize(
    ("cell", "column", "fragment"),
    [
        ("99999999999999999999999", "capacity", f"from 0 to {MAX_CAPACITY}"),
        ("9" * 5000, "capacity", f"from 0 to {MAX_CAPACITY}"),  # past int()'s 4300 digits
        ("-" + "9" * 5000, "level", f"from 0 to {MAX_LEVEL}"),
    ],
)
def test_csv_huge_whole_numbers_are_refused_unparsed(cell: str, column: str, fragment: str) -> None:
    rows, log = parse(f"external_id,role,name,{column}\nu1,mentor,Ann,{cell}\n", expect_ok=False)
    assert fragment in log.errors[f"row 2.{column}"][0]
    assert rows[0].data.get(column) is None


@pytest.mark.parametrize("code", range(128))
def test_every_ascii_character_gets_the_verdict_of_the_character_rules(code: int) -> None:
    # Printable ASCII skips the full character checks: the verdict must not change.
    from scoring.identifiers import character_problem

    value = f"a{chr(code)}b"
    found = problems({**BASE, "external_id": value, "skills": [value], "name": value})
    for path, kind in (("external_id", "identifier"), ("skills.0", "identifier"), ("name", "name")):
        assert found.get(path) == character_problem(value, kind=kind), (path, found)


def test_a_repeated_skill_is_checked_for_each_participant_and_place() -> None:
    # Skills are checked once per spelling (a cache): each use still gets its own verdict.
    for skills, expected in (
        (["sql", " s\x00ql "], {"skills.1"}),
        ([" s\x00ql ", "sql", "Bisexual"], {"skills.0", "skills.2"}),
        (["sql ", "sql"], set()),
    ):
        clean, found = check_participant({**BASE, "skills": skills}, FIELDS, positions=ANY)
        assert {path for path, _ in found} == expected
        if not expected:
            assert clean["skills"] == ["sql"]

"""Bad participants, weights, exclusions and empty sides raise specific errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import scoring
from scoring import ConfigError, EmptyCohortError, ParticipantError, ScoringError
from scoring.synthetic import program_config

CONFIG = program_config()
GOOD = {"external_id": "ok", "skills": ["python"], "attributes": {"languages": ["english"]}}


def compat(mentees: list[Any], mentors: list[Any], **kw: Any) -> scoring.Compatibility:
    return scoring.compatibility(mentees, mentors, CONFIG, **kw)


@pytest.mark.parametrize(
    ("bad", "field", "fragment"),
    [
        ("not a dict", "", "expected an object"),
        ({"external_id": 7}, "external_id", "expected a string"),
        ({"external_id": "x", "level": "3"}, "level", "expected an integer or null, got '3'"),
        ({"external_id": "x", "level": True}, "level", "True"),
        ({"external_id": "x", "position": 3}, "position", "got 3"),
        ({"external_id": "x", "skills": "python"}, "skills", "expected a list of strings"),
        ({"external_id": "x", "skills": ["ok", 1]}, "skills", "item 1"),
        ({"external_id": "x", "exclude": "m1"}, "exclude", "list of external ids"),
        ({"external_id": "x", "active": "yes"}, "active", "true or false"),
        ({"external_id": "x", "attributes": []}, "attributes", "expected an object"),
        (
            {"external_id": "x", "attributes": {"department": "space"}},
            "attributes.department",
            "unknown value 'space'; expected one of: eng, sales",
        ),
        (
            {"external_id": "x", "attributes": {"department": 3}},
            "attributes.department",
            "expected a string",
        ),
        (
            {"external_id": "x", "attributes": {"languages": "english"}},
            "attributes.languages",
            "expected a list of strings",
        ),
        (
            {"external_id": "x", "attributes": {"utc_offset": "+2"}},
            "attributes.utc_offset",
            "expected a finite number, got '+2'",
        ),
        (
            {"external_id": "x", "attributes": {"utc_offset": float("nan")}},
            "attributes.utc_offset",
            "finite number",
        ),
        (
            {"external_id": "x", "attributes": {"utc_offset": 10**400}},
            "attributes.utc_offset",
            "finite number",
        ),
        ({"external_id": "x", "level": 10**400}, "level", "expected an integer or null"),
        (
            {"external_id": "x", "attributes": {"goals": ["grow"]}},
            "attributes.goals",
            "expected a string",
        ),
    ],
)
@pytest.mark.parametrize("side", ["mentees", "mentors"])
def test_bad_participant_names_side_index_id_and_field(
    bad: Any, field: str, fragment: str, side: str
) -> None:
    people = [GOOD, bad]
    sides = (
        (people, [GOOD | {"external_id": "m"}])
        if side == "mentees"
        else ([GOOD | {"external_id": "e"}], people)
    )
    with pytest.raises(ParticipantError) as info:
        compat(*sides)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.side, err.index, err.field) == (side, 1, field)
    assert fragment in str(err)
    if isinstance(bad, dict) and isinstance(bad.get("external_id"), str):
        assert "external_id 'x'" in str(err)
    assert list(err.errors) == [f"{side}.1.{field}"]


def test_duplicate_external_id_on_one_side() -> None:
    with pytest.raises(ParticipantError, match=r"duplicate external_id 'ok' \(also mentors\[0\]\)"):
        compat([GOOD | {"external_id": "e"}], [GOOD, GOOD])


def test_participants_must_be_a_list() -> None:
    with pytest.raises(ParticipantError, match="expected a list of participants"):
        compat("abc", [GOOD])  # type: ignore[arg-type]


@pytest.mark.parametrize("side", ["mentees", "mentors"])
def test_empty_side(side: str) -> None:
    args = ([], [GOOD]) if side == "mentees" else ([GOOD], [])
    with pytest.raises(EmptyCohortError, match=f"no {side} to score") as info:
        compat(*args)
    assert info.value.side == side
    with pytest.raises(EmptyCohortError):
        scoring.lazy_compatibility(*args, CONFIG)


def test_invalid_config_raises_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        scoring.compatibility([GOOD], [GOOD], {"criteria": [{"name": "s", "kind": "x"}]})
    assert "criteria.0.kind" in info.value.errors


@pytest.mark.parametrize(
    ("weights", "path", "fragment"),
    [
        ({"nope": 1}, "weights.nope", "unknown criterion 'nope'"),
        ({"skills": -1}, "weights.skills", "finite number >= 0, got -1"),
        ({"skills": float("inf")}, "weights.skills", "inf"),
        ({"skills": "2"}, "weights.skills", "'2'"),
        ({"skills": 10**400}, "weights.skills", "finite number >= 0"),  # float() overflows
        ({"skills": True}, "weights.skills", "True"),
    ],
)
def test_bad_weights(weights: dict[str, Any], path: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        compat([GOOD], [GOOD | {"external_id": "m"}], weights=weights)
    assert fragment in info.value.errors[path][0]


@pytest.mark.parametrize(
    ("pairs", "fragment"),
    [
        ([(0, 5)], r"exclude_pairs\[0\]: mentor index 5 out of range \[0, 1\)"),
        ([(0, 0), (-1, 0)], r"exclude_pairs\[1\]: mentee index -1"),
        ([(0.5, 0)], "integer pairs"),
        ([(0, 0, 0)], "integer pairs"),
        (5, "expected"),
    ],
)
def test_bad_exclude_pairs(pairs: Any, fragment: str) -> None:
    with pytest.raises(ScoringError, match=fragment):
        compat([GOOD], [GOOD | {"external_id": "m"}], exclude_pairs=pairs)


def test_missing_keys_are_absent_values_never_nan() -> None:
    c = compat([{}], [{}, {"skills": None, "attributes": None}])
    assert not np.isnan(c.scores).any()
    np.testing.assert_array_equal(c.scores, 0)
    # Required "different department" and "shared language" have no evidence.
    np.testing.assert_array_equal(c.allowed, False)


def test_inactive_participants_are_never_allowed() -> None:
    mentee = {"external_id": "e", "skills": ["a"], "active": False}
    cfg = {"criteria": [{"name": "s", "kind": "skill_overlap"}]}
    c = scoring.compatibility([mentee], [{"external_id": "m", "skills": ["a"]}], cfg)
    assert c.scores[0, 0] == 1
    assert not c.allowed[0, 0]
    assert scoring.explain(c, 0, 0)[0].blocked_by == ["mentee is not active"]


def test_undeclared_attributes_are_ignored() -> None:
    cfg = {"criteria": [{"name": "s", "kind": "skill_overlap"}]}
    c = scoring.compatibility(
        [{"skills": ["a"], "attributes": {"anything": {"x": 1}}}], [{"skills": ["a"]}], cfg
    )
    assert c.scores[0, 0] == 1


def test_validate_participant_normalizes() -> None:
    out = scoring.validate_participant(
        {
            "external_id": "u",
            "position": " senior ",
            "skills": ["Python", " python", "Data  Science"],
            "exclude": [" m1 "],
            "attributes": {"department": "ENG", "languages": ["English"], "utc_offset": 2},
        },
        scoring.validate_config(CONFIG),
    )
    assert out["level"] == 2
    assert out["skills"] == ["python", "data science"]
    assert out["exclude"] == ["m1"]
    assert out["attributes"] == {"department": "eng", "languages": ["english"], "utc_offset": 2.0}

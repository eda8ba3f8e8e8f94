"""Point tables of seniority_gap and proximity: the validator, the lookup, the reasons."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import scoring
from scoring import ConfigError, validate_config
from scoring.points import MAX_POINTS, PointTable

FIELDS = [{"key": "tz", "type": "number"}]
LEVELS = ["G7", "G6", "SCS1", "SCS2"]


def crit(kind: str, params: object) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "rule", "kind": kind, "params": params}
    if kind == "proximity":
        c["field"] = "tz"
    return {"fields": FIELDS, "position_levels": LEVELS, "criteria": [c]}


def errors_of(config: object) -> dict[str, list[str]]:
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    return info.value.errors


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("seniority_gap", {"2": 1, "1": 0.75}, {"1": 0.75, "2": 1.0}),
        ("seniority_gap", {"+1": 0.5, "-1": 0.25, "0": 0}, {"-1": 0.25, "0": 0.0, "1": 0.5}),
        ("seniority_gap", {1: 1}, {"1": 1.0}),
        ("proximity", {"0": 1, "03": 0.5}, {"0": 1.0, "3": 0.5}),
    ],
)
def test_tables_are_normalized(kind: str, raw: dict[Any, Any], expected: dict[str, float]) -> None:
    out = validate_config(crit(kind, {"points": raw}))
    assert out["criteria"][0]["params"] == {"points": expected}
    assert validate_config(out) == out  # idempotent


P = "criteria.0.params"


@pytest.mark.parametrize(
    ("kind", "params", "path", "fragment"),
    [
        ("seniority_gap", {"points": {"1": 1}, "min_gap": 1}, f"{P}.min_gap", "one or the other"),
        ("proximity", {"points": {"1": 1}, "scale": 2}, f"{P}.scale", "replaces the shape"),
        ("seniority_gap", {"points": {}}, f"{P}.points", "gap -> similarity"),
        ("seniority_gap", {"points": [1, 2]}, f"{P}.points", "got [1, 2]"),
        ("seniority_gap", {"points": {"one": 1}}, f"{P}.points.one", "whole-number gap"),
        ("seniority_gap", {"points": {"1.5": 1}}, f"{P}.points.1.5", "whole-number gap"),
        ("seniority_gap", {"points": {"1001": 1}}, f"{P}.points.1001", "from -1000 to 1000"),
        ("seniority_gap", {"points": {True: 1}}, f"{P}.points.True", "whole-number gap"),
        ("proximity", {"points": {"-1": 1}}, f"{P}.points.-1", "absolute difference"),
        ("seniority_gap", {"points": {"1": 1.5}}, f"{P}.points.1", "from 0 to 1, got 1.5"),
        ("seniority_gap", {"points": {"1": -0.1}}, f"{P}.points.1", "from 0 to 1"),
        ("seniority_gap", {"points": {"1": "1"}}, f"{P}.points.1", "got '1'"),
        ("seniority_gap", {"points": {"1": float("nan")}}, f"{P}.points.1", "from 0 to 1"),
        ("seniority_gap", {"points": {"1": 1, "01": 0.5}}, f"{P}.points.01", "given twice"),
        (
            "seniority_gap",
            {"points": {str(k): 1 for k in range(MAX_POINTS + 1)}},
            f"{P}.points",
            f"at most {MAX_POINTS}",
        ),
    ],
)
def test_bad_tables_name_the_path(kind: str, params: object, path: str, fragment: str) -> None:
    errors = errors_of(crit(kind, params))
    assert path in errors, errors
    assert any(fragment in m for m in errors[path]), errors[path]


def test_every_bad_entry_is_reported_at_once() -> None:
    errors = errors_of(crit("seniority_gap", {"points": {"x": 1, "2": 3}, "max_gap": 4}))
    assert set(errors) == {f"{P}.points.x", f"{P}.points.2", f"{P}.max_gap"}


def test_lookup_scores_listed_gaps_and_zero_elsewhere() -> None:
    table = PointTable.from_params({"-1": 0.25, "1": 0.75, "2": 1.0})
    gaps = np.array([[-2.0, -1.0, 0.0], [1.0, 2.0, 3.0], [np.nan, 1.5, 1e12]])
    np.testing.assert_array_equal(
        table(gaps), [[0.0, 0.25, 0.0], [0.75, 1.0, 0.0], [0.0, 0.0, 0.0]]
    )


def test_one_grade_rule_is_one_criterion() -> None:
    # "+9 points at one grade, +12 at two, never outside 1-2"
    config = crit("seniority_gap", {"points": {"1": 0.75, "2": 1.0}})
    config["criteria"][0].update(weight=12, required=True)
    mentees = [{"external_id": "e", "position": "G7"}]
    mentors = [{"external_id": f"m{k}", "position": p} for k, p in enumerate(LEVELS)]
    c = scoring.compatibility(mentees, mentors, config)
    np.testing.assert_allclose(c.scores[0] * 12, [0, 9, 12, 0])
    assert c.allowed[0].tolist() == [False, True, True, False]
    reasons = [e.reasons for e in scoring.explain(c, [0, 0], [1, 2])]
    assert reasons == [
        ["Mentor is 1 level senior (G7 -> G6)"],
        ["Mentor is 2 levels senior (G7 -> SCS1)"],
    ]


def test_peer_and_junior_gaps_are_named() -> None:
    config = crit("seniority_gap", {"points": {"0": 1, "-1": 0.5}})
    mentees = [{"position": "G6"}]
    c = scoring.compatibility(mentees, [{"position": "G6"}, {"position": "G7"}], config)
    assert c.scores[0].tolist() == [1.0, 0.5]
    assert [e.reasons for e in scoring.explain(c, [0, 0], [0, 1])] == [
        ["Same level (G6)"],
        ["Mentor is 1 level junior (G6 -> G7)"],
    ]


def test_proximity_table_needs_whole_gaps() -> None:
    config = crit("proximity", {"points": {"0": 1, "3": 0.5}})
    mentees = [{"attributes": {"tz": 1}}]
    mentors = [{"attributes": {"tz": v}} for v in (1, -2, 4, 3.5, None)]
    c = scoring.compatibility(mentees, mentors, config)
    np.testing.assert_array_equal(c.scores[0], [1.0, 0.5, 0.5, 0.0, 0.0])
    reasons = [e.reasons for e in scoring.explain(c, [0, 0], [0, 2])]
    assert reasons == [["Same tz: 1"], ["Close tz: 1 and 4 (difference 3)"]]

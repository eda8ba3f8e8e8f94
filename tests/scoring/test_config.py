"""validate_config: defaults, normalization and every rejection branch."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from scoring import ConfigError, validate_config
from scoring.limits import MAX_CAPACITY, finite_number
from scoring.success import DEFAULT_SUCCESS
from scoring.synthetic import program_config

HUGE = 10**400

FIELDS = [
    {"key": "department", "type": "category", "values": ["eng", "sales"]},
    {"key": "languages", "type": "multi"},
    {"key": "utc_offset", "type": "number"},
    {"key": "goals", "type": "text"},
]


def cfg(*criteria: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"fields": copy.deepcopy(FIELDS), "criteria": list(criteria), **top}


def errors_of(config: object) -> dict[str, list[str]]:
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    assert isinstance(info.value, ValueError)
    return info.value.errors


def test_design_config_is_valid_and_normalized() -> None:
    raw = program_config()
    before = copy.deepcopy(raw)
    out = validate_config(raw)
    assert raw == before  # input untouched
    assert out["default_capacity"] == 1
    assert out["min_score"] == 0.25
    seniority = out["criteria"][1]
    assert seniority["params"] == {"min_gap": 1.0, "ideal_gap": 2.0, "max_gap": 4.0}
    dept = out["criteria"][3]
    assert dept == {
        "name": "other_department",
        "kind": "different",
        "field": "department",
        "weight": 1.0,
        "required": True,
        "params": {},
    }
    assert validate_config(out) == out  # idempotent


def test_defaults_are_filled() -> None:
    out = validate_config({"criteria": [{"name": "s", "kind": "skill_overlap"}]})
    assert out == {
        "fields": [],
        "position_levels": [],
        "positions": "checked",
        "criteria": [
            {"name": "s", "kind": "skill_overlap", "weight": 1.0, "required": False, "params": {}}
        ],
        "default_capacity": 1,
        "default_mentee_capacity": 1,
        "spread": False,
        "tolerance": 0.0,
        "min_score": None,
        "objective": "total",
        "success": DEFAULT_SUCCESS,
    }
    prox = validate_config(cfg({"name": "t", "kind": "proximity", "field": "utc_offset"}))
    assert prox["criteria"][0]["params"] == {"scale": 1.0}


@pytest.mark.parametrize(
    ("config", "path", "fragment"),
    [
        ([], "", "expected a config object"),
        ({"criteria": []}, "criteria", "non-empty list"),
        ({"criteria": "skills"}, "criteria", "non-empty list"),
        ({"criteria": [1]}, "criteria.0", "expected an object"),
        ({"criteria": [{"name": "s", "kind": "skill_overlap"}], "x": 1}, "x", "unknown key 'x'"),
        (cfg({"name": "s", "kind": "skill_overlap", "extra": 1}), "criteria.0.extra", "unknown"),
        (cfg({"name": "", "kind": "skill_overlap"}), "criteria.0.name", "non-empty string"),
        (cfg({"name": "s", "kind": "similarity"}), "criteria.0.kind", "'similarity'"),
        (cfg({"name": "s", "kind": "same"}), "criteria.0.field", "needs a category field"),
        (cfg({"name": "s", "kind": "same", "field": 3}), "criteria.0.field", "got 3"),
        (cfg({"name": "s", "kind": "same", "field": "city"}), "criteria.0.field", "'city'"),
        (
            cfg({"name": "s", "kind": "same", "field": "languages"}),
            "criteria.0.field",
            "use kind 'overlap'",
        ),
        (
            cfg({"name": "s", "kind": "overlap", "field": "department"}),
            "criteria.0.field",
            "use kind 'same'",
        ),
        (
            cfg({"name": "s", "kind": "proximity", "field": "goals"}),
            "criteria.0.field",
            "needs a number field",
        ),
        (
            cfg({"name": "s", "kind": "text_similarity", "field": "utc_offset"}),
            "criteria.0.field",
            "needs a text field",
        ),
        (
            cfg({"name": "s", "kind": "skill_overlap", "field": "languages"}),
            "criteria.0.field",
            "takes no field",
        ),
        (cfg({"name": "s", "kind": "skill_overlap", "weight": -1}), "criteria.0.weight", "-1"),
        (
            cfg({"name": "s", "kind": "skill_overlap", "weight": float("nan")}),
            "criteria.0.weight",
            "finite",
        ),
        (
            cfg({"name": "s", "kind": "skill_overlap", "weight": float("inf")}),
            "criteria.0.weight",
            "inf",
        ),
        (cfg({"name": "s", "kind": "skill_overlap", "weight": "3"}), "criteria.0.weight", "'3'"),
        (cfg({"name": "s", "kind": "skill_overlap", "weight": True}), "criteria.0.weight", "True"),
        (
            cfg({"name": "s", "kind": "skill_overlap", "required": 1}),
            "criteria.0.required",
            "true or false",
        ),
        (
            cfg({"name": "s", "kind": "skill_overlap", "params": {"scale": 1}}),
            "criteria.0.params",
            "takes no params",
        ),
        (
            cfg({"name": "s", "kind": "seniority_gap", "params": {"min_gap": 3, "ideal_gap": 1}}),
            "criteria.0.params",
            "min_gap <= ideal_gap <= max_gap",
        ),
        (
            cfg({"name": "s", "kind": "seniority_gap", "params": {"min_gap": -1}}),
            "criteria.0.params.min_gap",
            "min_gap >= 0",
        ),
        (
            cfg({"name": "s", "kind": "seniority_gap", "params": {"gap": 1}}),
            "criteria.0.params.gap",
            "unknown key 'gap'",
        ),
        (
            cfg({"name": "s", "kind": "seniority_gap", "params": {"max_gap": "4"}}),
            "criteria.0.params.max_gap",
            "finite number",
        ),
        (
            cfg({"name": "s", "kind": "seniority_gap", "params": [1, 2, 3]}),
            "criteria.0.params",
            "expected an object",
        ),
        (
            cfg({"name": "t", "kind": "proximity", "field": "utc_offset", "params": {"scale": 0}}),
            "criteria.0.params.scale",
            "scale > 0",
        ),
        (
            cfg({"name": "s", "kind": "skill_overlap"}, {"name": "s", "kind": "skill_overlap"}),
            "criteria.1.name",
            "duplicate criterion name 's'",
        ),
        (
            cfg({"name": "s", "kind": "skill_overlap", "weight": 0}),
            "criteria",
            "positive weight or required",
        ),
        (
            cfg({"name": "s", "kind": "skill_overlap"}, default_capacity=-1),
            "default_capacity",
            "-1",
        ),
        (
            cfg({"name": "s", "kind": "skill_overlap"}, default_capacity=1.5),
            "default_capacity",
            "1.5",
        ),
        (cfg({"name": "s", "kind": "skill_overlap"}, min_score=1.5), "min_score", "[0, 1]"),
        (cfg({"name": "s", "kind": "skill_overlap"}, min_score="x"), "min_score", "'x'"),
        (cfg({"name": "s", "kind": "skill_overlap"}, objective="best"), "objective", "'best'"),
        (
            cfg({"name": "s", "kind": "skill_overlap"}, position_levels=["A", "a"]),
            "position_levels.1",
            "duplicate",
        ),
        (
            cfg({"name": "s", "kind": "skill_overlap"}, position_levels="A,B"),
            "position_levels",
            "expected a list",
        ),
        (
            cfg({"name": "s", "kind": "skill_overlap"}, position_levels=["A", 3]),
            "position_levels.1",
            "non-empty string",
        ),
        # Integers beyond float range: math.isfinite(10**400) raises OverflowError.
        (
            cfg({"name": "s", "kind": "skill_overlap", "weight": HUGE}),
            "criteria.0.weight",
            "finite",
        ),
        (cfg({"name": "s", "kind": "skill_overlap"}, min_score=HUGE), "min_score", "[0, 1]"),
        (
            cfg({"name": "g", "kind": "seniority_gap", "params": {"min_gap": HUGE}}),
            "criteria.0.params.min_gap",
            "finite number",
        ),
        (
            cfg(
                {"name": "t", "kind": "proximity", "field": "utc_offset", "params": {"scale": HUGE}}
            ),
            "criteria.0.params.scale",
            "finite number",
        ),
        (
            cfg({"name": "s", "kind": "skill_overlap"}, default_capacity=HUGE),
            "default_capacity",
            f"from 0 to {MAX_CAPACITY}",
        ),
        (
            cfg({"name": "s", "kind": "skill_overlap"}, default_capacity=MAX_CAPACITY + 1),
            "default_capacity",
            f"from 0 to {MAX_CAPACITY}",
        ),
    ],
)
def test_invalid_configs_name_path_and_value(config: object, path: str, fragment: str) -> None:
    errors = errors_of(config)
    assert path in errors, errors
    assert any(fragment in msg for msg in errors[path]), errors[path]


@pytest.mark.parametrize(
    ("field", "path", "fragment"),
    [
        ({"key": "x"}, "fields.4.type", "unknown field type None"),
        ({"key": "x", "type": "blob"}, "fields.4.type", "'blob'"),
        ({"key": "", "type": "text"}, "fields.4.key", "non-empty string"),
        ({"key": " x ", "type": "text"}, "fields.4.key", "surrounding spaces"),
        ({"key": "goals", "type": "text"}, "fields.4.key", "duplicate field key 'goals'"),
        ({"key": "x", "type": "category", "values": []}, "fields.4.values", "at least one"),
        ({"key": "x", "type": "category", "values": ["a", " A"]}, "fields.4.values.1", "duplicate"),
        ({"key": "x", "type": "category", "values": [""]}, "fields.4.values.0", "non-empty"),
        ({"key": "x", "type": "number", "values": ["a"]}, "fields.4.values", "only allowed"),
        ({"key": "x", "type": "text", "label": "X"}, "fields.4.label", "unknown key"),
        ("x", "fields.4", "expected an object"),
    ],
)
def test_invalid_fields(field: object, path: str, fragment: str) -> None:
    config = cfg({"name": "s", "kind": "skill_overlap"})
    config["fields"].append(field)
    errors = errors_of(config)
    assert path in errors, errors
    assert any(fragment in msg for msg in errors[path]), errors[path]


def test_all_errors_reported_at_once() -> None:
    errors = errors_of(
        {
            "fields": [{"key": "x", "type": "blob"}],
            "criteria": [
                {"name": "a", "kind": "nope"},
                {"name": "b", "kind": "same", "field": "x"},
            ],
            "objective": "best",
        }
    )
    assert {"fields.0.type", "criteria.0.kind", "objective"} <= set(errors)
    # A criterion on an invalid field is not reported twice.
    assert "criteria.1.field" not in errors


@pytest.mark.parametrize(
    "key",
    [
        "religion",
        "health_status",
        "salary_band",
        "Ethnicity",
        "sexual_orientation",
        "sexualOrientation",
        "gender_identity",
        "disability",
        "union_membership",
        "trade_union",
        "criminal_record",
        "political_views",
        "genetic_data",
        "biometric_id",
        "income",
        "debt_level",
        "credit_score",
        "medical_notes",
        "race",
    ],
)
def test_sensitive_field_keys_are_refused(key: str) -> None:
    config = cfg({"name": "s", "kind": "skill_overlap"})
    config["fields"].append({"key": key, "type": "text"})
    errors = errors_of(config)
    assert "sensitive category" in errors["fields.4.key"][0]
    assert repr(key) in errors["fields.4.key"][0]


@pytest.mark.parametrize("key", ["wealth_management_skills", "finance_experience", "gender"])
def test_innocent_keys_are_accepted(key: str) -> None:
    config = cfg({"name": "s", "kind": "skill_overlap"})
    config["fields"].append({"key": key, "type": "text"})
    assert validate_config(config)["fields"][4]["key"] == key


def test_sensitive_criterion_names_and_values_are_refused() -> None:
    errors = errors_of(cfg({"name": "religious_match", "kind": "skill_overlap"}))
    assert "sensitive" in errors["criteria.0.name"][0]
    config = cfg({"name": "s", "kind": "skill_overlap"})
    config["fields"].append({"key": "group", "type": "category", "values": ["a", "Muslim"]})
    config["fields"].append({"key": "tags", "type": "multi", "values": ["Bisexual"]})
    errors = errors_of(config)
    assert "'Muslim'" in errors["fields.4.values.1"][0]
    assert "'Bisexual'" in errors["fields.5.values.0"][0]
    # Department names that merely sound close stay possible.
    ok = cfg({"name": "s", "kind": "skill_overlap"})
    ok["fields"][0]["values"] = ["finance", "medical", "legal"]
    assert validate_config(ok)["fields"][0]["values"] == ["finance", "medical", "legal"]


def test_error_message_lists_paths() -> None:
    with pytest.raises(ConfigError, match=r"criteria\.0\.kind: unknown criterion kind 'x'"):
        validate_config({"criteria": [{"name": "a", "kind": "x"}]})


def test_default_capacity_bound_is_inclusive() -> None:
    config = validate_config(
        cfg({"name": "s", "kind": "skill_overlap"}, default_capacity=MAX_CAPACITY)
    )
    assert config["default_capacity"] == MAX_CAPACITY


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3.0),
        (-2.5, -2.5),
        (10**300, 1e300),
        (np.float32(1.5), 1.5),
        (np.int64(7), 7.0),
        (HUGE, None),
        (-HUGE, None),
        (float("inf"), None),
        (float("nan"), None),
        (True, None),
        ("1", None),
        (None, None),
        (np.bool_(True), None),
    ],
)
def test_finite_number_never_raises(value: object, expected: float | None) -> None:
    assert finite_number(value) == expected

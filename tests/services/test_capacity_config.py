"""The configuration keys of several mentors per mentee: ``default_mentee_capacity``,
``spread`` and ``tolerance`` (scoring.validate_config, and a program saved over HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from scoring import ConfigError, validate_config
from scoring.limits import MAX_CAPACITY

BASE: dict[str, Any] = {"criteria": [{"name": "skills", "kind": "skill_overlap"}]}


def test_defaults_one_place_per_mentee_no_spread_exact() -> None:
    out = validate_config(BASE)
    assert (out["default_mentee_capacity"], out["spread"], out["tolerance"]) == (1, False, 0.0)


def test_the_keys_are_kept_and_idempotent() -> None:
    out = validate_config({**BASE, "default_mentee_capacity": 3, "spread": True})
    assert (out["default_mentee_capacity"], out["spread"], out["tolerance"]) == (3, True, 0.0)
    assert validate_config(out) == out
    fast = validate_config({**BASE, "tolerance": 0.05})
    assert fast["tolerance"] == 0.05
    assert validate_config(fast) == fast


@pytest.mark.parametrize(
    "other",
    [{"objective": "fair"}, {"spread": True}, {"default_mentee_capacity": 2}],
)
def test_a_tolerance_needs_the_matchers_fast_path(other: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config({**BASE, "tolerance": 0.1, **other})
    assert list(info.value.errors) == ["tolerance"]
    assert "solved exactly" in info.value.errors["tolerance"][0]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("default_mentee_capacity", -1, f"from 0 to {MAX_CAPACITY}, got -1"),
        ("default_mentee_capacity", MAX_CAPACITY + 1, f"got {MAX_CAPACITY + 1}"),
        ("default_mentee_capacity", 1.5, "whole number"),
        ("default_mentee_capacity", True, "whole number"),
        ("default_mentee_capacity", "2", "whole number"),
        ("default_capacity", -2, "default_capacity must be a whole number"),
        ("spread", "yes", "expected true or false, got 'yes'"),
        ("spread", 1, "expected true or false, got 1"),
        ("tolerance", 1, "expected a number in [0, 1), got 1"),
        ("tolerance", -0.1, "got -0.1"),
        ("tolerance", float("nan"), "got nan"),
        ("tolerance", "0.1", "got '0.1'"),
    ],
)
def test_bad_values_are_refused_by_key(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config({**BASE, key: value})
    assert list(info.value.errors) == [key]
    assert message in info.value.errors[key][0]


def test_every_bad_key_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        validate_config({**BASE, "default_mentee_capacity": -1, "spread": None, "tolerance": 2})
    assert set(info.value.errors) == {"default_mentee_capacity", "spread", "tolerance"}


def test_a_program_with_a_bad_mentee_capacity_is_a_422(client: Any, tenant: Any) -> None:
    body = {"name": "P", "config": {**BASE, "default_mentee_capacity": 0.5, "spread": "on"}}
    res = client.post("/v1/programs", json=body, headers=tenant.headers)
    assert res.status_code == 422, res.get_json()
    assert res.content_type.startswith("application/problem+json")
    errors = res.get_json()["errors"]
    assert any(k.endswith("default_mentee_capacity") for k in errors), errors
    assert any(k.endswith("spread") for k in errors), errors


def test_a_program_keeps_its_mentee_capacity_and_spread(client: Any, tenant: Any) -> None:
    body = {"name": "P", "config": {**BASE, "default_mentee_capacity": 3, "spread": True}}
    res = client.post("/v1/programs", json=body, headers=tenant.headers)
    assert res.status_code == 201, res.get_json()
    config = res.get_json()["config"]
    assert (config["default_mentee_capacity"], config["spread"]) == (3, True)

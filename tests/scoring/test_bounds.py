"""Sizes, magnitudes and characters a config and the scoring inputs may carry (issue 12)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import scoring
from scoring import ConfigError, ParticipantError, validate_config
from scoring.criteria import FOLD_MAX
from scoring.limits import (
    MAX_ABS_NUMBER,
    MAX_CRITERIA,
    MAX_FIELDS,
    MAX_KEY_LENGTH,
    MAX_LEVELS,
    MAX_VALUES,
    MAX_WEIGHT,
    MIN_SCALE,
)

SKILLS = {"name": "skills", "kind": "skill_overlap"}


def errors_of(config: dict[str, Any]) -> dict[str, list[str]]:
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    return info.value.errors


def proximity_config(scale: float = 1.0) -> dict[str, Any]:
    return {
        "fields": [{"key": "x", "type": "number"}],
        "criteria": [
            {"name": "near", "kind": "proximity", "field": "x", "params": {"scale": scale}}
        ],
    }


def people(values: list[float], prefix: str) -> list[dict[str, Any]]:
    return [{"external_id": f"{prefix}{i}", "attributes": {"x": v}} for i, v in enumerate(values)]


def test_proximity_of_large_close_numbers_keeps_its_units() -> None:
    # Float32 keeps 7 digits: 1e12 + k were all one value when cast before scaling.
    values = [MAX_ABS_NUMBER - k for k in range(FOLD_MAX + 10)]  # past the folded path
    result = scoring.compatibility(people(values, "e"), people(values, "m"), proximity_config())
    diagonal = np.diag(result.scores)
    assert np.allclose(diagonal, 1.0)
    assert result.scores[0, 1] == pytest.approx(np.exp(-1.0), rel=1e-5)
    assert result.scores[0, 5] == pytest.approx(np.exp(-5.0), rel=1e-4)


def test_opposite_extreme_numbers_are_far_apart_not_optimal() -> None:
    values = [float(k) for k in range(FOLD_MAX + 10)]
    mentees = people([*values, MAX_ABS_NUMBER], "e")
    mentors = people([*values, -MAX_ABS_NUMBER], "m")
    result = scoring.compatibility(mentees, mentors, proximity_config(MIN_SCALE))
    assert np.isfinite(result.scores).all()
    assert result.scores[-1, -1] < 1e-30  # exp(-PROXIMITY_CAP): as far apart as it gets


@pytest.mark.parametrize("value", [1e39, -1e39, MAX_ABS_NUMBER * 1.5])
def test_numbers_past_the_bound_are_refused_when_scoring(value: float) -> None:
    with pytest.raises(ParticipantError, match="numbers range from"):
        scoring.compatibility(people([value], "e"), people([0.0], "m"), proximity_config())


def test_huge_weights_are_refused() -> None:
    config = {
        "criteria": [
            {**SKILLS, "weight": 1e308},
            {"name": "senior", "kind": "seniority_gap", "weight": 1e308},
        ]
    }
    errors = errors_of(config)
    assert set(errors) == {"criteria.0.weight", "criteria.1.weight"}
    assert f"from 0 to {MAX_WEIGHT:g}" in errors["criteria.0.weight"][0]


def test_the_largest_weights_still_give_meaningful_scores() -> None:
    config = {
        "criteria": [
            {**SKILLS, "weight": MAX_WEIGHT},
            {"name": "senior", "kind": "seniority_gap", "weight": MAX_WEIGHT},
        ]
    }
    mentee = [{"external_id": "e", "skills": ["python"], "level": 1}]
    mentor = [{"external_id": "m", "skills": ["python"], "level": 3}]
    result = scoring.compatibility(mentee, mentor, config)
    assert result.scores[0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"scale": 1e-300}, "criteria.0.params.scale"),
        ({"scale": 1e300}, "criteria.0.params.scale"),
    ],
)
def test_proximity_scale_is_bounded(params: dict[str, float], path: str) -> None:
    config = proximity_config()
    config["criteria"][0]["params"] = params
    assert path in errors_of(config)


@pytest.mark.parametrize(
    ("config", "path", "fragment"),
    [
        (
            {
                "criteria": [
                    {"name": f"c{i}", "kind": "skill_overlap"} for i in range(MAX_CRITERIA + 1)
                ]
            },
            "criteria",
            f"at most {MAX_CRITERIA} criteria",
        ),
        (
            {
                "fields": [{"key": f"f{i}", "type": "text"} for i in range(MAX_FIELDS + 1)],
                "criteria": [SKILLS],
            },
            "fields",
            f"at most {MAX_FIELDS} fields",
        ),
        (
            {
                "fields": [
                    {
                        "key": "d",
                        "type": "category",
                        "values": [f"v{i}" for i in range(MAX_VALUES + 1)],
                    }
                ],
                "criteria": [SKILLS],
            },
            "fields.0.values",
            f"at most {MAX_VALUES} values",
        ),
        (
            {"position_levels": [f"L{i}" for i in range(MAX_LEVELS + 1)], "criteria": [SKILLS]},
            "position_levels",
            f"at most {MAX_LEVELS} levels",
        ),
        (
            {"criteria": [{"name": "n" * (MAX_KEY_LENGTH + 1), "kind": "skill_overlap"}]},
            "criteria.0.name",
            f"at most {MAX_KEY_LENGTH} characters",
        ),
    ],
)
def test_config_sizes_are_capped(config: dict[str, Any], path: str, fragment: str) -> None:
    errors = errors_of(config)
    assert any(fragment in m for m in errors[path]), errors


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"fields": [{"key": "dept\u200b", "type": "text"}], "criteria": [SKILLS]}, "fields.0.key"),
        (
            {
                "fields": [{"key": "d", "type": "category", "values": ["eng", "eng\u2060"]}],
                "criteria": [SKILLS],
            },
            "fields.0.values.1",
        ),
        ({"criteria": [{"name": "skills\u0085", "kind": "skill_overlap"}]}, "criteria.0.name"),
        ({"position_levels": ["Senior\ud800"], "criteria": [SKILLS]}, "position_levels.0"),
        ({"position_levels": ["\u202eroinéS"], "criteria": [SKILLS]}, "position_levels.0"),
    ],
)
def test_invisible_and_control_characters_are_refused(config: dict[str, Any], path: str) -> None:
    errors = errors_of(config)
    assert any("must not contain" in m for m in errors[path]), errors


def test_keys_and_values_are_nfc_normalized() -> None:
    decomposed, composed = "Jose\u0301", "Jos\u00e9"
    config = validate_config(
        {
            "fields": [
                {"key": f"team_{decomposed}", "type": "category", "values": [decomposed, "x"]}
            ],
            "criteria": [{"name": "same", "kind": "same", "field": f"team_{decomposed}"}],
        }
    )
    assert config["fields"][0]["key"] == f"team_{composed}"
    assert config["fields"][0]["values"][0] == composed
    assert config["criteria"][0]["field"] == f"team_{composed}"


def test_nfc_spellings_of_one_value_are_duplicates() -> None:
    errors = errors_of(
        {
            "fields": [{"key": "d", "type": "category", "values": ["Jos\u00e9", "Jose\u0301"]}],
            "criteria": [SKILLS],
        }
    )
    assert "duplicate" in errors["fields.0.values.1"][0]

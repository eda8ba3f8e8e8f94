"""The sensitive-category guard: normalized before matching, health conditions by name,
and the decision on demographic fields stated (issue 12)."""

from __future__ import annotations

import pytest

from scoring import ConfigError, validate_config
from scoring.sensitive import ACCEPTED_DEMOGRAPHICS, sensitive_reason


def config_with_field(key: str) -> dict[str, object]:
    return {
        "fields": [{"key": key, "type": "text"}],
        "criteria": [{"name": "skills", "kind": "skill_overlap"}],
    }


@pytest.mark.parametrize(
    "key",
    [
        "hiv_status",
        "hivStatus",
        "HIV",
        "h_i_v",
        "religión",
        "Religião",
        "r_e_l_i_g_i_o_n",
        "R-E-L-I-G-I-O-N",
        "ETHNICITY",
        "diagnosis",
        "diagnoses",
        "disability",
        "isDisabled",
        "pregnancy",
        "pregnant",
        "cancer_history",
        "depression",
        "adhd",
        "blood_type",
        "sex",
        "gender_identity",
        "transgender",
        "intersex",
    ],
)
def test_keys_naming_a_special_category_are_refused_however_spelled(key: str) -> None:
    assert sensitive_reason(key) is not None
    with pytest.raises(ConfigError) as info:
        validate_config(config_with_field(key))
    assert "sensitive category" in info.value.errors["fields.0.key"][0]


@pytest.mark.parametrize("key", ACCEPTED_DEMOGRAPHICS)
def test_demographic_fields_are_accepted_by_decision(key: str) -> None:
    assert validate_config(config_with_field(key))["fields"][0]["key"] == key


@pytest.mark.parametrize(
    "key", ["department", "wealth_management_skills", "finance_experience", "hive_team", "stats"]
)
def test_harmless_keys_stay_accepted(key: str) -> None:
    assert sensitive_reason(key) is None


@pytest.mark.parametrize(
    "value", ["HIV positive", "Diabetes", "pregnant", "Bisexual", "Musulmán", "m-u-s-l-i-m"]
)
def test_values_naming_a_special_category_are_refused(value: str) -> None:
    assert sensitive_reason(value, value=True) is not None


@pytest.mark.parametrize("value", ["finance", "medical", "Python", "women in tech", "female"])
def test_ordinary_values_stay_accepted(value: str) -> None:
    assert sensitive_reason(value, value=True) is None

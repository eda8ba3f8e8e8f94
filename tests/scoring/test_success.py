"""The success formula: each part, missing parts, the early-end penalty, overrides, bounds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring import ConfigError, OutcomeError, validate_config
from scoring.success import (
    DEFAULT_SUCCESS,
    outcome_success,
    realized_success,
    success_parts,
    validate_success,
)

W = DEFAULT_SUCCESS["weights"]


def reference(outcome: dict[str, Any], params: dict[str, Any] | None = None) -> float:
    """The formula written out for one outcome, the obvious way."""
    cfg = validate_success(params)
    parts: dict[str, float] = {}
    if outcome.get("meetings") is not None:
        parts["meetings"] = min(outcome["meetings"] / cfg["expected_meetings"], 1.0)
    if outcome.get("goals_total") and outcome.get("goals_completed") is not None:
        parts["goals"] = outcome["goals_completed"] / outcome["goals_total"]
    ratings = [outcome[k] for k in ("mentor_rating", "mentee_rating") if outcome.get(k)]
    if ratings:
        parts["rating"] = (sum(ratings) / len(ratings) - 1) / 4
    weights = {k: cfg["weights"][k] for k in parts if cfg["weights"][k] > 0}
    reason = (outcome.get("ended_reason") or "").lower().replace(" ", "_").replace("-", "_")
    penalized = bool(outcome.get("ended_early")) and reason in cfg["participant_reasons"]
    if not weights:
        return 0.0 if penalized else float("nan")
    base = sum(weights[k] * parts[k] for k in weights) / sum(weights.values())
    return min(max(base - (cfg["early_end_penalty"] if penalized else 0.0), 0.0), 1.0)


def test_meetings_part_is_capped_at_the_expected_count() -> None:
    out = realized_success({"meetings": [0, 3, 6, 60]})
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0, 1.0])


def test_goals_part_is_completion_and_missing_without_goals() -> None:
    parts = success_parts({"goals_completed": [0, 1, 3, 0, 2], "goals_total": [4, 4, 3, 0, None]})
    np.testing.assert_allclose(parts["goals"], [0.0, 0.25, 1.0, np.nan, np.nan])


def test_rating_part_is_the_mean_of_the_ratings_given_rescaled() -> None:
    parts = success_parts(
        {"mentor_rating": [1, 5, 3, None, None], "mentee_rating": [1, 4, None, 2, None]}
    )
    np.testing.assert_allclose(parts["rating"], [0.0, 0.875, 0.5, 0.25, np.nan])


def test_weighted_mix_of_all_parts() -> None:
    out = outcome_success(
        {
            "meetings": 3,
            "goals_completed": 1,
            "goals_total": 2,
            "mentor_rating": 5,
            "mentee_rating": 5,
        }
    )
    expected = (W["meetings"] * 0.5 + W["goals"] * 0.5 + W["rating"] * 1.0) / sum(W.values())
    assert out == pytest.approx(expected)
    assert out == pytest.approx(0.7)


def test_missing_parts_drop_out_and_the_rest_renormalize() -> None:
    only_rating = outcome_success({"mentor_rating": 4})
    assert only_rating == pytest.approx(0.75)
    two = outcome_success({"meetings": 6, "mentee_rating": 1})
    assert two == pytest.approx(W["meetings"] / (W["meetings"] + W["rating"]))


def test_counts_and_messages_not_scored_do_not_change_success() -> None:
    base = {"meetings": 2, "mentor_rating": 4}
    assert outcome_success({**base, "messages": 500, "milestones": 9}) == outcome_success(base)


def test_no_evidence_is_nan_but_a_participant_side_early_end_is_zero() -> None:
    out = realized_success(
        [
            {},
            {"ended_early": True, "ended_reason": "no_show"},
            {"ended_early": True, "ended_reason": "program_ended"},
        ]
    )
    assert np.isnan(out[0])
    assert out[1] == 0.0
    assert np.isnan(out[2])


@pytest.mark.parametrize(
    ("reason", "penalized"),
    [
        ("mentee_withdrew", True),
        ("Mentor withdrew", True),
        ("no-show", True),
        (" MISMATCH ", True),
        ("program_ended", False),
        ("left_organization", False),
        (None, False),
    ],
)
def test_early_end_penalty_only_for_participant_side_reasons(
    reason: str | None, penalized: bool
) -> None:
    base = {"meetings": 6, "mentor_rating": 5}
    out = outcome_success({**base, "ended_early": True, "ended_reason": reason})
    assert out == pytest.approx(1.0 - DEFAULT_SUCCESS["early_end_penalty"] * penalized)
    # the reason alone, without an early end, costs nothing
    assert outcome_success({**base, "ended_early": False, "ended_reason": reason}) == 1.0


def test_penalty_result_is_clipped_at_zero() -> None:
    out = outcome_success({"meetings": 0, "ended_early": True, "ended_reason": "conflict"})
    assert out == 0.0


def test_overrides_change_each_parameter() -> None:
    outcome = {
        "meetings": 3,
        "goals_completed": 0,
        "goals_total": 2,
        "mentor_rating": 5,
        "ended_early": True,
        "ended_reason": "relocated",
    }
    assert outcome_success(outcome) == pytest.approx((0.3 * 0.5 + 0.4) / 1.0)
    only_meetings = {"weights": {"goals": 0, "rating": 0}}
    assert outcome_success(outcome, params=only_meetings) == pytest.approx(0.5)
    fewer = {**only_meetings, "expected_meetings": 3}
    assert outcome_success(outcome, params=fewer) == 1.0
    penalized = {**fewer, "participant_reasons": ["Relocated"], "early_end_penalty": 0.4}
    assert outcome_success(outcome, params=penalized) == pytest.approx(0.6)


def test_columns_and_records_agree_and_extra_keys_are_ignored() -> None:
    records = [
        {"meetings": 4, "mentor_rating": 2, "id": "x"},
        {"goals_completed": 2, "goals_total": 5, "ended_early": None},
    ]
    columns = {
        "meetings": np.array([4.0, np.nan]),
        "mentor_rating": [2, None],
        "goals_completed": [None, 2],
        "goals_total": np.array([0, 5]),
        "recorded_at": ["a", "b"],
    }
    np.testing.assert_array_equal(realized_success(records), realized_success(columns))


outcomes = st.fixed_dictionaries(
    {},
    optional={
        "meetings": st.none() | st.integers(0, 30),
        "goals_total": st.none() | st.integers(0, 6),
        "mentor_rating": st.none() | st.integers(1, 5),
        "mentee_rating": st.none() | st.floats(1, 5),
        "ended_early": st.none() | st.booleans(),
        "ended_reason": st.none() | st.sampled_from(["no_show", "program ended", "conflict"]),
        "messages": st.none() | st.integers(0, 1000),
    },
)


@given(st.lists(outcomes, min_size=1, max_size=8), st.floats(0, 1), st.floats(0.5, 20))
def test_vectorized_matches_the_reference_and_stays_in_bounds(
    batch: list[dict[str, Any]], penalty: float, expected: float
) -> None:
    for i, o in enumerate(batch):  # goals_completed <= goals_total by construction
        if o.get("goals_total") is not None:
            o["goals_completed"] = i % (o["goals_total"] + 1)
    params = {"early_end_penalty": penalty, "expected_meetings": expected}
    out = realized_success(batch, params=params)
    ref = np.array([reference(o, params) for o in batch])
    np.testing.assert_allclose(out, ref, atol=1e-12)
    known = out[~np.isnan(out)]
    assert ((known >= 0) & (known <= 1)).all()


@pytest.mark.parametrize(
    ("outcome", "field", "fragment"),
    [
        ({"meetings": -1}, "meetings", "count >= 0"),
        ({"mentor_rating": 6}, "mentor_rating", "rating from 1 to 5"),
        ({"mentee_rating": 0}, "mentee_rating", "rating from 1 to 5"),
        ({"goals_completed": 3, "goals_total": 2}, "goals_completed", "at most goals_total"),
        ({"meetings": "3"}, "meetings", "finite number or null"),
        ({"meetings": True}, "meetings", "finite number or null"),
        ({"ended_early": "yes"}, "ended_early", "true, false or null"),
        ({"ended_reason": 3}, "ended_reason", "string or null"),
    ],
)
def test_bad_outcomes_name_the_field(outcome: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(OutcomeError, match=fragment) as info:
        realized_success([{"meetings": 1}, outcome])
    assert info.value.errors.keys() == {f"outcomes.1.{field}"}


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(OutcomeError, match="expected 3 values"):
        realized_success({"meetings": [1, 2, 3], "mentor_rating": [4, 5]})


def test_success_config_defaults_and_normalization() -> None:
    cfg = validate_config({"criteria": [{"name": "s", "kind": "skill_overlap"}]})
    assert cfg["success"] == DEFAULT_SUCCESS
    raw = {
        "weights": {"rating": 2},
        "expected_meetings": 4,
        "participant_reasons": ["No Show", "no-show", "ghosted"],
    }
    out = validate_success(raw)
    assert out == {
        "weights": {"meetings": 0.3, "goals": 0.3, "rating": 2.0},
        "expected_meetings": 4.0,
        "early_end_penalty": 0.25,
        "participant_reasons": ["no_show", "ghosted"],
    }
    assert validate_success(out) == out  # idempotent
    assert raw["weights"] == {"rating": 2}  # input untouched


@pytest.mark.parametrize(
    ("raw", "path", "fragment"),
    [
        ("all", "success", "expected an object"),
        ({"weight": {}}, "success.weight", "unknown key 'weight'"),
        ({"weights": []}, "success.weights", "expected an object"),
        ({"weights": {"speed": 1}}, "success.weights.speed", "unknown key"),
        ({"weights": {"rating": -1}}, "success.weights.rating", "got -1"),
        ({"weights": {"goals": float("nan")}}, "success.weights.goals", "finite number"),
        ({"weights": {"meetings": 0, "goals": 0, "rating": 0}}, "success.weights", "positive"),
        ({"expected_meetings": 0}, "success.expected_meetings", "> 0, got 0"),
        ({"expected_meetings": 10**400}, "success.expected_meetings", "finite"),
        ({"early_end_penalty": 1.5}, "success.early_end_penalty", "[0, 1], got 1.5"),
        ({"participant_reasons": "no_show"}, "success.participant_reasons", "list"),
        ({"participant_reasons": ["ok", ""]}, "success.participant_reasons.1", "non-empty"),
    ],
)
def test_success_config_errors_name_the_path(raw: object, path: str, fragment: str) -> None:
    config = {"criteria": [{"name": "s", "kind": "skill_overlap"}], "success": raw}
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    assert path in info.value.errors
    assert any(fragment in m for m in info.value.errors[path])
    with pytest.raises(ConfigError) as direct:
        realized_success([{"meetings": 1}], params=raw)
    assert path in direct.value.errors


def test_success_errors_are_reported_with_the_rest_of_the_config() -> None:
    config = {"criteria": [], "success": {"expected_meetings": -2, "early_end_penalty": 2}}
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    assert {"criteria", "success.expected_meetings", "success.early_end_penalty"} <= set(
        info.value.errors
    )

"""Open categories: a category field without declared values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import scoring
from scoring import ConfigError, validate_config
from scoring.encode import encode_side

CONFIG: dict[str, Any] = {
    "fields": [{"key": "office", "type": "category"}],
    "criteria": [
        {"name": "same_office", "kind": "same", "field": "office", "weight": 1},
        {"name": "other_office", "kind": "different", "field": "office", "weight": 0},
    ],
}


def people(*offices: str | None) -> list[dict[str, Any]]:
    return [{"external_id": f"p{k}", "attributes": {"office": o}} for k, o in enumerate(offices)]


def test_a_category_without_values_is_open() -> None:
    out = validate_config(CONFIG)
    assert out["fields"] == [{"key": "office", "type": "category"}]
    assert validate_config(out) == out


@pytest.mark.parametrize(
    ("values", "path", "fragment"),
    [
        ([], "fields.0.values", "at least one"),
        (None, "fields.0.values", "expected a list of values"),
        (["x", "X "], "fields.0.values.1", "duplicate"),
    ],
)
def test_declared_values_are_still_checked(values: object, path: str, fragment: str) -> None:
    config = {**CONFIG, "fields": [{"key": "office", "type": "category", "values": values}]}
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    assert any(fragment in m for m in info.value.errors[path]), info.value.errors


def test_each_side_numbers_its_own_values_first_seen() -> None:
    side = encode_side(people("Leeds", " leeds ", None, "Cafe\u0301", "CAFÉ"), CONFIG, "mentors")
    assert side.categories["office"].tolist() == [0, 0, -1, 1, 1]
    assert side.category_labels["office"] == ["Leeds", "Caf\u00e9"]  # NFC


def test_values_compare_after_normalization_on_the_union() -> None:
    mentees = people("London", "Café  Nord", None, "Oslo")
    mentors = people("Leeds", " LONDON", "cafe\u0301 nord", "Rome")
    c = scoring.compatibility(mentees, mentors, CONFIG)
    same = np.zeros((4, 4), dtype=bool)
    same[0, 1] = same[1, 2] = True
    np.testing.assert_array_equal(c.scores > 0, same)
    expl = scoring.explain(c, [0, 1, 3], [1, 2, 0])
    assert expl[0].reasons == ["Same office: London"]
    assert expl[1].reasons == ["Same office: Café  Nord"]
    # Different offices: reasons name each side's own value, like a declared category.
    weights = {"same_office": 0.0, "other_office": 1.0}
    d = scoring.compatibility(mentees, mentors, CONFIG, weights=weights)
    (e,) = scoring.explain(d, 3, 0)
    assert e.reasons == ["Different office: mentee in Oslo, mentor in Leeds"]
    assert d.scores[2].tolist() == [0, 0, 0, 0]  # missing is never different


def test_validate_participant_keeps_the_spelling() -> None:
    p = scoring.validate_participant({"attributes": {"office": " Cafe\u0301 Nord "}}, CONFIG)
    assert p["attributes"] == {"office": "Café Nord"}


def test_a_required_same_on_an_open_field_is_a_constraint() -> None:
    config = {**CONFIG, "criteria": [{**CONFIG["criteria"][0], "required": True}]}
    c = scoring.compatibility(people("a", "b"), people("B", "c", None), config)
    assert c.allowed.tolist() == [[False, False, False], [True, False, False]]

"""Positions: listed ones have a level, unlisted ones are refused unless the program is open."""

from __future__ import annotations

from typing import Any

import pytest

import scoring
from scoring import ConfigError, ParticipantError, validate_config

LEVELS = ["G7", "G6", "SCS1"]
CRITERIA = [{"name": "grade", "kind": "seniority_gap"}]


def config(**top: Any) -> dict[str, Any]:
    return validate_config({"position_levels": LEVELS, "criteria": CRITERIA, **top})


def test_listed_positions_have_their_level() -> None:
    p = scoring.validate_participant({"position": " g6 "}, config())
    assert p["level"] == 1


def test_an_unlisted_position_is_refused_naming_the_levels() -> None:
    with pytest.raises(ParticipantError) as info:
        scoring.compatibility(
            [{"external_id": "e1", "position": "G7"}],
            [{"external_id": "m1", "position": "G7"}, {"external_id": "m2", "position": "G-6"}],
            config(),
        )
    message = str(info.value)
    assert "mentors[1] (external_id 'm2'): position" in message
    assert "unknown position 'G-6'; expected one of: G7, G6, SCS1" in message


@pytest.mark.parametrize("position", [None, "", "  "])
def test_no_position_is_accepted(position: str | None) -> None:
    assert scoring.validate_participant({"position": position}, config())["level"] is None


def test_an_explicit_level_does_not_excuse_an_unlisted_position() -> None:
    with pytest.raises(ParticipantError, match="unknown position 'Boss'"):
        scoring.validate_participant({"position": "Boss", "level": 2}, config())


@pytest.mark.parametrize("top", [{"positions": "open"}, {"position_levels": []}])
def test_open_positions_or_no_levels_accept_any_position(top: dict[str, Any]) -> None:
    p = scoring.validate_participant({"position": "Chief Wizard"}, config(**top))
    assert p["level"] is None
    listed = scoring.validate_participant({"position": "SCS1"}, config(**top))
    assert listed["level"] == (2 if top.get("position_levels") is None else None)


def test_positions_mode_is_validated() -> None:
    assert config()["positions"] == "checked"
    assert config(positions="open")["positions"] == "open"
    with pytest.raises(ConfigError) as info:
        config(positions="optional")
    assert info.value.errors == {
        "positions": ["unknown positions mode 'optional'; expected one of: checked, open"]
    }

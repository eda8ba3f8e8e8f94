"""Positions: which ones a program accepts, and the seniority level each one means.

The one rule for every path that takes participants (scoring's
:func:`~scoring.encode.validate_participant`, the API's uploads, corrections and
offline batch, which call :meth:`PositionRule.problem`):

* ``position_levels`` empty or absent: any position is accepted and none has a
  level (only an explicit ``level`` counts);
* otherwise, with ``"positions": "checked"`` (the default), a position must be
  one of ``position_levels`` (compared after normalization: NFC, inner
  whitespace collapsed, trimmed, case-folded); any other is refused, naming the
  allowed levels, because a typo ("G7 " is fine, "G-7" is not) would silently
  leave the person without a level and unmatched by a ``seniority_gap`` rule;
* with ``"positions": "open"`` any position is accepted; a listed one has its
  level, another has none.

An empty or missing position is always accepted (no position).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scoring.identifiers import nfc
from scoring.validation import Errors, fmt

__all__ = ["POSITION_MODES", "PositionRule", "check_positions_mode"]

#: Values of a config's ``positions``: must a position be listed in ``position_levels``?
POSITION_MODES = ("checked", "open")
_SHOWN = 20  # levels named in a message


def _key(text: str) -> str:
    # scoring.encode.category_key's normalization (encode imports this module).
    return " ".join(nfc(text).split()).casefold()


def check_positions_mode(err: Errors, raw: object) -> str:
    """Validate a config's ``positions`` (default ``"checked"``); errors go to ``err``."""
    if raw is None:
        return POSITION_MODES[0]
    if raw not in POSITION_MODES:
        err.add(
            "positions",
            f"unknown positions mode {fmt(raw)}; expected one of: " + ", ".join(POSITION_MODES),
        )
        return POSITION_MODES[0]
    return str(raw)


class PositionRule:
    """The positions a (validated) config accepts and the level of each.

    Examples
    --------
    >>> rule = PositionRule({"position_levels": ["G7", "G6"]})
    >>> rule.level(" g6"), rule.problem("g7"), rule.problem("Grade 7")
    (1, None, "unknown position 'Grade 7'; expected one of: G7, G6 (or no position)")
    >>> PositionRule({"position_levels": ["G7"], "positions": "open"}).problem("Grade 7")
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.names: list[str] = list(config.get("position_levels") or [])
        self._levels = {_key(x): k for k, x in enumerate(self.names)}
        self.checked = bool(self.names) and config.get("positions", "checked") == "checked"

    def level(self, position: str) -> int | None:
        """The level of ``position`` (its index in ``position_levels``), or None."""
        return self._levels.get(_key(position))

    def problem(self, position: str | None) -> str | None:
        """Why ``position`` is refused, or None when it is accepted."""
        if not self.checked or position is None or not position.strip():
            return None
        if _key(position) in self._levels:
            return None
        shown = ", ".join(self.names[:_SHOWN])
        if len(self.names) > _SHOWN:
            shown += f" and {len(self.names) - _SHOWN} more"
        return f"unknown position {fmt(position)}; expected one of: {shown} (or no position)"

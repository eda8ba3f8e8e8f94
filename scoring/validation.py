"""The shared pieces of config validation: an error collector keyed by path, and
the short, safe display of a bad value.

Every validator of :mod:`scoring` reports problems as ``{dotted path: [messages]}``
(see :class:`scoring.errors.ConfigError`); :class:`Errors` collects them so that
one call reports all of them at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scoring.identifiers import character_problem, nfc

__all__ = ["Errors", "fmt"]


def fmt(x: object) -> str:
    """``repr(x)`` cut to 60 characters, safe for integers too long to print.

    Examples
    --------
    >>> fmt("best"), fmt(3.5)
    ("'best'", '3.5')
    >>> len(fmt("x" * 100))
    60
    """
    try:
        text = repr(x)
    except ValueError:  # an int past Python's digit limit for str()
        text = f"<{type(x).__name__} too large to show>"
    return text if len(text) <= 60 else text[:57] + "..."


class Errors:
    """Messages collected by dotted path, in the order found.

    Examples
    --------
    >>> err = Errors()
    >>> err.unknown_keys("success", {"x": 1}, ("weights",))
    >>> err.errors
    {'success.x': ["unknown key 'x'; expected one of: weights"]}
    """

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, msg: str) -> None:
        """Record ``msg`` under ``path``."""
        self.errors.setdefault(path, []).append(msg)

    def too_many(self, path: str, items: object, cap: int, what: str) -> bool:
        """Record and say whether ``items`` is a list longer than ``cap``."""
        if isinstance(items, list) and len(items) > cap:
            self.add(path, f"at most {cap} {what}, got {len(items)}")
            return True
        return False

    def identifier(self, path: str, text: str, *, max_len: int) -> str | None:
        """``text`` in NFC, or None with a message when its characters or length are wrong.

        See :mod:`scoring.identifiers` for the characters refused.
        """
        problem = character_problem(text)
        if problem is not None:
            self.add(path, f"{fmt(text)} {problem}")
            return None
        text = nfc(text)
        if len(text) > max_len:
            self.add(path, f"at most {max_len} characters, got {len(text)}")
            return None
        return text

    def whole_number(self, path: str, value: object, high: int) -> int:
        """``value`` if it is a whole number from 0 to ``high``; else record why and
        return 0 (the caller raises once every problem is recorded)."""
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= high:
            return value
        self.add(path, f"{path} must be a whole number from 0 to {high}, got {fmt(value)}")
        return 0

    def unknown_keys(self, path: str, obj: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
        """Record every key of ``obj`` that is not in ``allowed``."""
        for key in obj:
            if key not in allowed:
                where = f"{path}.{key}" if path else str(key)
                self.add(where, f"unknown key {fmt(key)}; expected one of: {', '.join(allowed)}")

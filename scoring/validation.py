"""The shared pieces of config validation: an error collector keyed by path, and
the short, safe display of a bad value.

Every validator of :mod:`scoring` reports problems as ``{dotted path: [messages]}``
(see :class:`scoring.errors.ConfigError`); :class:`Errors` collects them so that
one call reports all of them at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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

    def unknown_keys(self, path: str, obj: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
        """Record every key of ``obj`` that is not in ``allowed``."""
        for key in obj:
            if key not in allowed:
                where = f"{path}.{key}" if path else str(key)
                self.add(where, f"unknown key {fmt(key)}; expected one of: {', '.join(allowed)}")

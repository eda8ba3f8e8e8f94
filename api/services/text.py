"""The characters text the API stores may hold. Pure: no database.

PostgreSQL refuses a NUL character in any text or JSONB value, and the other C0
control characters are never meant in names, ids, skills or descriptions (they come
from binary junk or broken encodings, and corrupt exports and logs). So every string a
client sends is refused when it holds a NUL or another C0 control character; tab,
line feed and carriage return stay allowed, for free text such as descriptions and
``text`` attributes (single-line values are whitespace-normalized where they are
matched anyway). The same rule holds on SQLite, so a dataset moves between backends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["control_char_problem", "control_char_problems"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def control_char_problem(text: str) -> str | None:
    """Why ``text`` is refused, or None if its characters are all acceptable.

    >>> control_char_problem("Ann\tLee") is None
    True
    >>> control_char_problem("Ann" + chr(0)).startswith("must not contain control character")
    True
    """
    found = _CONTROL.search(text)
    if found is None:
        return None
    return (
        f"must not contain control character {found.group()!r} (at character {found.start()}); "
        "only tab and line breaks are allowed"
    )


def control_char_problems(value: object, path: str = "") -> list[tuple[str, str]]:
    """``(path, message)`` for every string in a JSON-like value that holds a control character.

    Paths are dotted (``"config.fields.0.key"``); a bad object key is reported at its
    own path.
    """
    out: list[tuple[str, str]] = []
    _walk(out, value, path)
    return out


def _walk(out: list[tuple[str, str]], value: object, path: str) -> None:
    if isinstance(value, str):
        if (problem := control_char_problem(value)) is not None:
            out.append((path or "_schema", problem))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (problem := control_char_problem(key)) is not None:
                out.append((where, f"field name {problem}"))
            _walk(out, item, where)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _walk(out, item, f"{path}.{i}" if path else str(i))

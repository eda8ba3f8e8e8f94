"""The characters text the API stores may hold. Pure: no database.

PostgreSQL refuses a NUL character in any text or JSONB value, and the other control
characters (C0 and C1) are never meant in names, ids, skills or descriptions (they come
from binary junk or broken encodings, and corrupt exports and logs). A lone UTF-16
surrogate (a JSON ``\\ud800`` escape without its pair) is not text at all: SQLite would
store it and PostgreSQL refuse it. So every string a client sends, at any depth, is
refused when it holds one of them; tab, line feed and carriage return stay allowed, for
free text such as descriptions and ``text`` attributes (single-line values are
whitespace-normalized where they are matched anyway). The same rule holds on SQLite, so
a dataset moves between backends. Identifiers and matched values are held to more
(NFC, no invisible format characters): :mod:`scoring.identifiers`, applied where they
are validated.
"""

from __future__ import annotations

from collections.abc import Mapping

from scoring.identifiers import character_problem

__all__ = ["control_char_problem", "control_char_problems"]


def control_char_problem(text: str) -> str | None:
    """Why ``text`` is refused, or None if its characters are all acceptable.

    >>> control_char_problem("Ann\tLee") is None
    True
    >>> control_char_problem("Ann" + chr(0)).startswith("must not contain control character")
    True
    """
    return character_problem(text, kind="text")


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

"""What characters identifiers and matched values may hold, and their one spelling.

Two strings that look the same must be the same: ``m0`` and ``m0`` followed by a
zero-width space would otherwise be two people, and ``é`` typed precomposed or as
``e`` plus a combining accent two category values. So identifiers (external ids,
field keys, criterion names), names and matched values (skills, category and multi
values) are put in Unicode normal form NFC, and refused when they hold a character
nobody sees or means:

* C0 and C1 control characters (U+0000-U+001F but tab and line breaks, U+007F-U+009F);
* lone UTF-16 surrogates (U+D800-U+DFFF), which JSON's ``\\ud800`` escapes can carry
  and which no database encoding can store;
* invisible format characters (Unicode category ``Cf``: zero-width spaces and
  joiners, bidirectional overrides, the byte-order mark, soft hyphens...).

A display name keeps the zero-width joiner and non-joiner (U+200C, U+200D), which
Persian and Indic names and emoji need; only the other format characters are refused
there. Free text (descriptions, ``text`` attributes) is checked for controls and
surrogates only. Pure: the standard library's :mod:`unicodedata`.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["JOINERS", "character_problem", "nfc"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
#: The format characters a display name may keep (zero-width non-joiner and joiner).
JOINERS = frozenset("\u200c\u200d")


def nfc(text: str) -> str:
    r"""``text`` in Unicode normal form NFC.

    Examples
    --------
    >>> nfc("Jose\u0301") == "Jos\u00e9"
    True
    """
    return unicodedata.normalize("NFC", text)


def _invisible(text: str, allowed: frozenset[str]) -> tuple[int, str] | None:
    if text.isascii():
        return None
    for i, ch in enumerate(text):
        if unicodedata.category(ch) == "Cf" and ch not in allowed:
            return i, ch
    return None


def character_problem(text: str, *, kind: str = "identifier") -> str | None:
    r"""Why ``text`` may not be stored, or None.

    Parameters
    ----------
    text : str
        The string as received.
    kind : {"identifier", "name", "text"}, optional
        ``identifier``: ids, keys and matched values (no controls, surrogates or
        format characters); ``name``: a display name (format characters but the
        joiners refused); ``text``: free text (controls and surrogates only).

    Examples
    --------
    >>> character_problem("m0") is None
    True
    >>> character_problem("m0\u200b")
    'must not contain the invisible character U+200B (at character 2)'
    >>> character_problem("\u0645\u200c\u0646", kind="name") is None
    True
    """
    found = _CONTROL.search(text)
    if found is not None:
        return (
            f"must not contain control character U+{ord(found.group()):04X} "
            f"(at character {found.start()}); only tab and line breaks are allowed"
        )
    found = _SURROGATE.search(text)
    if found is not None:
        return (
            f"must not contain the lone surrogate U+{ord(found.group()):04X} "
            f"(at character {found.start()}): not valid Unicode text"
        )
    if kind == "text":
        return None
    hit = _invisible(text, JOINERS if kind == "name" else frozenset())
    if hit is not None:
        code, at = ord(hit[1]), hit[0]
        return f"must not contain the invisible character U+{code:04X} (at character {at})"
    return None

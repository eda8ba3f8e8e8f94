"""Checks of participant data against a program's configuration. Pure: no database.

One participant is checked whole (a create, or an update merged onto the stored row),
so cross-field rules such as "a position among the program's levels" hold however it
was changed. ``capacity`` is a mentor's mentees or a mentee's mentors alike.
Problems come back as ``(path, message)`` pairs; paths are the JSON ones
(``"attributes.department"``, ``"skills.2"``) and each caller prefixes or renames them
(``"items.3."``, CSV ``"row 5.department"``).

Bounds (one source: :mod:`scoring.limits`): ``level`` is a whole number from 0 to
:data:`MAX_LEVEL`, ``capacity`` one from 0 to :data:`MAX_CAPACITY` (the bound of a
config's ``default_capacity`` too); ``number`` attributes are finite and at most
:data:`MAX_ABS_NUMBER` in magnitude (an integer too large for a float counts as
infinite); at most :data:`MAX_SKILLS` skills of :data:`MAX_SKILL_LENGTH` characters,
:data:`MAX_MULTI` values per ``multi`` attribute, :data:`MAX_TEXT` characters per
``text`` attribute. The JSON schemas and the CSV parser use the same bounds.

Positions (:class:`scoring.positions.PositionRule`, the rule scoring applies): when the
program lists ``position_levels`` and its ``positions`` is not ``"open"``, a position must
be one of them. A ``category`` field without declared ``values`` is open: any value
within the bounds, never one naming a special category.

Characters (:mod:`scoring.identifiers`): ids, positions, skills and category and multi
values are NFC-normalized and may not hold control characters, lone surrogates or
invisible format characters; a name may keep the zero-width joiners; free text may not
hold control characters but tab and line breaks.

Minimization (DESIGN section 6): a skill or an undeclared ``multi`` value that names a
special category (``bisexual``, ``hiv``...; :func:`scoring.sensitive.sensitive_reason`)
is refused like a field collecting one, so it can never be matched on or shown in a
match's reasons. Declared values were checked when the program was configured.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from api.services.errors import ValidationFailed
from models.vocabulary import Role
from scoring.identifiers import character_problem, nfc
from scoring.limits import (
    MAX_ABS_NUMBER,
    MAX_CAPACITY,
    MAX_LEVEL,
    MAX_MULTI,
    MAX_SKILL_LENGTH,
    MAX_SKILLS,
    MAX_TEXT,
    MAX_VALUE_LENGTH,
    finite_number,
)
from scoring.positions import PositionRule
from scoring.sensitive import sensitive_reason

ROLES = tuple(Role)
#: Every key a participant may carry, in the API's order.
KEYS = (
    "external_id",
    "role",
    "name",
    "email",
    "position",
    "level",
    "skills",
    "capacity",
    "attributes",
    "exclude",
    "active",
)
REQUIRED = ("external_id", "role", "name")
DEFAULTS: dict[str, Any] = {
    "email": None,
    "position": None,
    "level": None,
    "skills": [],
    "capacity": None,
    "attributes": {},
    "exclude": [],
    "active": True,
}
MAX_ERRORS = 100
#: External ids one participant may exclude.
MAX_LIST = 1000
#: Characters of an external id, a name or a position.
MAX_ID_LENGTH = 200
#: The integer columns and their inclusive bounds (one source: :mod:`scoring.limits`).
INT_BOUNDS: dict[str, tuple[int, int]] = {"level": (0, MAX_LEVEL), "capacity": (0, MAX_CAPACITY)}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")

Problems = list[tuple[str, str]]


def _fmt(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        text = f"<{type(value).__name__} too large to show>"
    return text if len(text) <= 60 else text[:57] + "..."


def _norm(text: str) -> str:
    # The same normalization scoring matches on (scoring.encode.norm).
    return " ".join(text.split()).casefold()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def bound_message(key: str, value: object) -> str:
    """The message for a ``level``/``capacity`` value outside :data:`INT_BOUNDS`."""
    low, high = INT_BOUNDS[key]
    return f"{key} must be a whole number from {low} to {high}, or empty; got {_fmt(value)}"


def _bounded_int(out: Problems, key: str, value: object) -> bool:
    """Whether ``value`` is None or a whole number within the key's bounds; else a problem."""
    low, high = INT_BOUNDS[key]
    if value is None or (isinstance(value, int) and _is_int(value) and low <= value <= high):
        return True
    out.append((key, bound_message(key, value)))
    return False


def _plain(value: str) -> bool:
    """Printable ASCII only: no character :func:`character_problem` refuses, and already
    NFC (most ids, names, emails and values: the full checks are skipped for them)."""
    return value.isascii() and value.isprintable()


def _characters(out: Problems, path: str, value: str, kind: str = "identifier") -> bool:
    if _plain(value):
        return True
    problem = character_problem(value, kind=kind)
    if problem is not None:
        out.append((path, problem))
    return problem is None


def _nfc(value: str) -> str:
    return value if value.isascii() else nfc(value)


def fields_by_key(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The program's attribute fields (a validated config's ``fields``) by key."""
    return {f["key"]: f for f in config.get("fields") or []}


def _string(
    out: Problems, path: str, value: object, *, max_len: int, kind: str = "identifier"
) -> str | None:
    """A stripped NFC string; None (absent) stays None, and so does an all-blank string."""
    if value is None:
        return None
    if not isinstance(value, str):
        out.append((path, f"expected a string, got {_fmt(value)}"))
        return None
    _characters(out, path, value, kind)
    value = _nfc(value).strip()
    if len(value) > max_len:
        out.append((path, f"at most {max_len} characters, got {len(value)}"))
    return value or None


@lru_cache(maxsize=256)
def _canonical(values: tuple[str, ...]) -> dict[str, str]:
    """Normalized spelling -> declared spelling of a field's values."""
    return {_norm(v): v for v in values}


def _strings(
    out: Problems,
    path: str,
    value: object,
    *,
    allowed: list[str] | None = None,
    max_items: int = MAX_LIST,
    max_len: int = MAX_ID_LENGTH,
    sensitive: bool = False,
) -> list[str]:
    """A list of non-empty NFC strings, stripped, duplicates dropped; mapped onto ``allowed``.

    With ``sensitive``, a value naming a special category is refused.
    """
    if not isinstance(value, list):
        out.append((path, f"expected a list of strings, got {_fmt(value)}"))
        return []
    if len(value) > max_items:
        out.append((path, f"at most {max_items} entries, got {len(value)}"))
        return []
    canonical = _canonical(tuple(allowed)) if allowed is not None else None
    # Skills and multi values repeat across participants: each spelling is checked once.
    clean_item = _value_item if sensitive else _item
    screen = sensitive and canonical is None
    result: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            out.append((f"{path}.{i}", f"expected a non-empty string, got {_fmt(item)}"))
            continue
        item, problem = clean_item(item, max_len, screen)
        if problem is not None:
            out.append((f"{path}.{i}", problem))
            continue
        if canonical is not None:
            key = _norm(item)
            if key not in canonical:
                expected = ", ".join(allowed or [])
                out.append((f"{path}.{i}", f"unknown value {item!r}; expected one of: {expected}"))
                continue
            item = canonical[key]
        if item not in result:
            result.append(item)
    return result


def _item(item: str, max_len: int, screen: bool) -> tuple[str, str | None]:
    """One non-blank list item, NFC and stripped, and why it is refused (None: it is not).

    ``screen``: refuse a value naming a special category.
    """
    if not _plain(item) and (problem := character_problem(item)) is not None:
        return item, problem
    item = _nfc(item).strip()
    if len(item) > max_len:
        return item, f"at most {max_len} characters, got {len(item)}"
    if screen and (why := sensitive_reason(item, value=True)):
        return item, _sensitive_message(item, why)
    return item, None


#: :func:`_item` for skills and multi values, a vocabulary of a few thousand spellings.
_value_item = lru_cache(maxsize=1 << 16)(_item)


def _sensitive_message(value: str, why: str) -> str:
    return (
        f"{value!r} names a special category of personal data ({why!r}); such data is not accepted"
    )


def _category(out: Problems, path: str, field: Mapping[str, Any], value: Any) -> str | None:
    values: list[str] | None = field.get("values")
    expected = ", ".join(values) if values is not None else "a non-empty string"
    if not isinstance(value, str) or not value.strip():
        out.append((path, f"expected one of: {expected}; got {_fmt(value)}"))
        return None
    if not _characters(out, path, value):
        return None
    text = _nfc(value).strip()
    if values is None:  # an open category: any value, but never a special category
        if len(text) > MAX_VALUE_LENGTH:
            out.append((path, f"at most {MAX_VALUE_LENGTH} characters, got {len(text)}"))
            return None
        if (why := sensitive_reason(text, value=True)) is not None:
            out.append((path, _sensitive_message(text, why)))
            return None
        return text
    match = _canonical(tuple(values)).get(_norm(text))
    if match is None:
        out.append((path, f"unknown value {text!r}; expected one of: {expected}"))
    return match


def _attribute(out: Problems, path: str, field: Mapping[str, Any], value: Any) -> Any:
    kind = field["type"]
    if kind == "category":
        return _category(out, path, field, value)
    if kind == "multi":
        return _strings(
            out,
            path,
            value,
            allowed=field.get("values"),
            max_items=MAX_MULTI,
            max_len=MAX_VALUE_LENGTH,
            sensitive=True,
        )
    if kind == "number":
        number = finite_number(value)
        if number is None or abs(number) > MAX_ABS_NUMBER:
            out.append(
                (
                    path,
                    f"expected a finite number from {-MAX_ABS_NUMBER:g} to {MAX_ABS_NUMBER:g}, "
                    f"got {_fmt(value)}",
                )
            )
            return None
        return value
    if not isinstance(value, str):  # text
        out.append((path, f"expected a string, got {_fmt(value)}"))
        return None
    if _characters(out, path, value, "text") and len(value) > MAX_TEXT:
        out.append((path, f"at most {MAX_TEXT} characters, got {len(value)}"))
    return _nfc(value)


def _attributes(
    out: Problems, value: object, fields: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        out.append(("attributes", f"expected an object, got {_fmt(value)}"))
        return {}
    result: dict[str, Any] = {}
    for key, raw in value.items():
        path = f"attributes.{key}"
        field = fields.get(key)
        if field is None:
            known = ", ".join(fields) or "none: this program defines no fields"
            out.append((path, f"not a field of this program; expected one of: {known}"))
        elif raw is not None:  # null: the value is unknown, so nothing is stored
            result[key] = _attribute(out, path, field, raw)
    return result


def check_participant(
    data: Mapping[str, Any], fields: Mapping[str, Mapping[str, Any]], *, positions: PositionRule
) -> tuple[dict[str, Any], Problems]:
    """Check and normalize one whole participant.

    ``positions`` is the program's rule (``PositionRule(config)``): a position it does
    not list is refused naming the allowed levels, as scoring refuses it.

    Returns the cleaned participant (every key of :data:`KEYS`, defaults filled) and the
    problems found; the cleaned value is meaningful only when there are none.
    """
    out: Problems = []
    for key in data:
        if key not in KEYS:
            out.append((key, f"unknown field; expected one of: {', '.join(KEYS)}"))
    p = {**DEFAULTS, **data}
    for key in REQUIRED:
        if p.get(key) is None:
            out.append((key, "missing data for required field"))
    clean: dict[str, Any] = {
        "external_id": _string(out, "external_id", p.get("external_id"), max_len=MAX_ID_LENGTH),
        "role": p.get("role"),
        "name": _string(out, "name", p.get("name"), max_len=MAX_ID_LENGTH, kind="name"),
        "email": _string(out, "email", p["email"], max_len=320),
        "position": _string(out, "position", p["position"], max_len=MAX_ID_LENGTH),
        "level": p["level"],
        "skills": _strings(
            out,
            "skills",
            p["skills"],
            max_items=MAX_SKILLS,
            max_len=MAX_SKILL_LENGTH,
            sensitive=True,
        ),
        "capacity": p["capacity"],
        "attributes": _attributes(out, p["attributes"], fields),
        "exclude": _strings(out, "exclude", p["exclude"]),
        "active": p["active"],
    }
    for key in ("external_id", "name"):
        if isinstance(p.get(key), str) and clean[key] is None:
            out.append((key, "must not be empty"))
    role = clean["role"]
    if role is not None and role not in ROLES:
        out.append(("role", f"must be one of: {', '.join(ROLES)}; got {_fmt(role)}"))
    if (problem := positions.problem(clean["position"])) is not None:
        out.append(("position", problem))
    if clean["email"] is not None and not _EMAIL.match(clean["email"]):
        out.append(("email", f"not an email address: {clean['email']!r}"))
    _bounded_int(out, "level", clean["level"])
    _bounded_int(out, "capacity", clean["capacity"])
    if not isinstance(clean["active"], bool):
        out.append(("active", f"expected true or false, got {_fmt(clean['active'])}"))
    return clean, out


class ErrorLog:
    """Collects ``{path: [messages]}`` over many rows, keeping the first ``cap`` messages."""

    def __init__(self, cap: int = MAX_ERRORS) -> None:
        self.cap = cap
        self.total = 0
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.total += 1
        if self.total <= self.cap:
            self.errors.setdefault(path, []).append(message)

    def extend(self, prefix: str, problems: Iterable[tuple[str, str]]) -> None:
        for path, message in problems:
            self.add(f"{prefix}{path}", message)

    def raise_if_any(self) -> None:
        if not self.total:
            return
        shown = min(self.total, self.cap)
        detail = f"{self.total} problem(s) found; nothing was saved"
        if self.total > self.cap:
            detail += f" (the first {shown} are listed)"
        raise ValidationFailed(self.errors, detail=detail)


def id_key(ext: object) -> str | None:
    """An upload row's external id as stored (NFC, stripped): two spellings are one id."""
    return _nfc(ext).strip() if isinstance(ext, str) else None


def first_seen(
    rows: list[tuple[str, dict[str, Any]]], *, log: ErrorLog, path: Callable[[str, str], str]
) -> dict[str, str]:
    """Each external id of an upload with the row it first appears in; repeats go to ``log``."""
    seen: dict[str, str] = {}
    for prefix, data in rows:
        key = id_key(data.get("external_id"))
        if not key or (not _plain(key) and character_problem(key) is not None):
            continue  # check_participant reports it; never looked up (PostgreSQL refuses NUL)
        if key in seen:
            where = seen[key].rstrip(".")
            log.add(path(prefix, "external_id"), f"duplicate external_id {key!r} (also {where})")
        else:
            seen[key] = prefix
    return seen

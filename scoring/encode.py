"""Encode participant dicts (the API's JSON shape) into per-side column data.

Each side is validated and encoded once per run. Strings are normalized for
matching by collapsing inner whitespace, stripping and case-folding
(``" Machine  Learning "`` -> ``"machine learning"``); skills and multi values
match on the whole normalized string, never on substrings.

A participant's seniority is its explicit integer ``level`` when given, else
the index of its ``position`` in the program's ``position_levels`` (matched
after normalization); otherwise it is missing. A position that is not listed is
refused unless the program's ``positions`` is ``"open"``
(:class:`scoring.positions.PositionRule`, the rule the API's uploads use too).
Attributes whose key is not a declared field are ignored (the API decides what
is stored).

A ``category`` field without declared ``values`` is open: any string is a value,
and two values are the same when their :func:`category_key` (NFC, then
:func:`norm`) is; a side's codes number its distinct keys in first-seen order and
the criteria renumber both sides on their union.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from scoring.errors import EmptyCohortError, ParticipantError
from scoring.identifiers import nfc
from scoring.limits import MAX_ABS_NUMBER, finite_number
from scoring.positions import PositionRule

__all__ = ["Side", "category_key", "encode_side", "norm", "validate_participant"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def norm(text: str) -> str:
    """Normalize a skill, value or position for matching.

    Examples
    --------
    >>> norm("  Machine   LEARNING ")
    'machine learning'
    """
    return " ".join(text.split()).casefold()


def category_key(text: str) -> str:
    """The key a category value is compared by: NFC, inner whitespace collapsed, trimmed,
    case-folded.

    Examples
    --------
    >>> category_key(" Cafe\u0301  Nord ") == category_key("CAFÉ NORD")
    True
    """
    return norm(nfc(text))


@dataclass(frozen=True, eq=False)
class Side:
    """Column data of one side of the cohort (``n`` participants).

    ``category`` codes index ``category_labels`` (-1: missing): the field's declared
    ``values``, or for an open field this side's distinct values in first-seen order;
    ``number`` and ``level`` use NaN for missing internally (never in output);
    ``multi`` and ``skills`` are lists of unique normalized strings in first-seen
    order; ``text`` is ``""`` when missing.
    """

    name: str
    n: int
    ids: list[str | None]
    skills: list[list[str]]
    level: FloatArray
    categories: dict[str, IntArray]
    multis: dict[str, list[list[str]]]
    numbers: dict[str, FloatArray]
    texts: dict[str, list[str]]
    exclude: list[list[str]]
    active: BoolArray
    category_labels: dict[str, list[str]] = field(default_factory=dict)


def _str_list(
    value: object, side: str, i: int, ext: str | None, field: str, cache: dict[str, str]
) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ParticipantError(side, i, ext, field, f"expected a list of strings, got {value!r}")
    out: list[str] = []
    seen: set[str] = set()
    for v in value:
        if not isinstance(v, str):
            raise ParticipantError(
                side, i, ext, field, f"expected a list of strings, got item {v!r}"
            )
        nv = cache.get(v)
        if nv is None:
            nv = cache[v] = norm(v)
        if nv and nv not in seen:
            seen.add(nv)
            out.append(nv)
    return out


def validate_participant(
    participant: object, config: Mapping[str, Any], *, side: str = "participants", index: int = 0
) -> dict[str, Any]:
    """Check one participant against a validated config and normalize it.

    Parameters
    ----------
    participant : dict
        API JSON shape; missing keys are treated as absent.
    config : dict
        A config returned by :func:`scoring.validate_config`.
    side : str, optional
        ``"mentees"`` or ``"mentors"``, used in error messages.
    index : int, optional
        Position in its list, used in error messages.

    Returns
    -------
    dict
        ``external_id``, ``level`` (int or None, resolved from ``position``),
        ``skills``, ``exclude`` (normalized lists), ``active`` and
        ``attributes`` (declared fields only: category values in their declared
        spelling, an open category's as given, NFC and trimmed; multi values
        normalized, numbers as float, texts as str).

    Raises
    ------
    ParticipantError
        Naming the participant and the field.

    Examples
    --------
    >>> cfg = {"fields": [{"key": "dept", "type": "category", "values": ["Eng"]}],
    ...        "position_levels": ["Junior", "Senior"]}
    >>> p = validate_participant({"external_id": "u1", "position": "senior",
    ...                           "attributes": {"dept": "eng"}}, cfg)
    >>> p["level"], p["attributes"]
    (1, {'dept': 'Eng'})
    >>> validate_participant({"external_id": "u2", "level": "high"}, cfg)
    Traceback (most recent call last):
    ...
    scoring.errors.ParticipantError: participants[0] (external_id 'u2'): level: expected an \
integer or null, got 'high'
    """
    return _validate(participant, _Schema(config), side, index)


class _Schema:
    """Lookups derived from a config once, for validating many participants."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.positions = PositionRule(config)
        # None: an open category (any value).
        self.fields: list[tuple[str, str, dict[str, str] | None]] = [
            (
                f["key"],
                f["type"],
                None
                if f["type"] == "category" and "values" not in f
                else {category_key(x): x for x in f.get("values") or []},
            )
            for f in config.get("fields") or []
        ]
        # Skills, values and positions repeat across participants: normalize each once.
        self.cache: dict[str, str] = {}
        self.category_keys: dict[str, str] = {}
        self._positions: dict[str, tuple[str | None, int | None]] = {}

    def position(self, position: str) -> tuple[str | None, int | None]:
        """Why ``position`` is refused (None: it is not), and the level it names."""
        known = self._positions.get(position)
        if known is None:
            problem = self.positions.problem(position)
            level = self.positions.level(position) if problem is None and position else None
            known = self._positions[position] = (problem, level)
        return known

    def category_key(self, value: str) -> str:
        key = self.category_keys.get(value)
        if key is None:
            key = self.category_keys[value] = category_key(value)
        return key


def _validate(participant: object, schema: _Schema, side: str, index: int) -> dict[str, Any]:
    i = index
    if not isinstance(participant, Mapping):
        raise ParticipantError(side, i, None, "", f"expected an object, got {participant!r}")
    p = participant
    ext = p.get("external_id")
    if ext is not None and not isinstance(ext, str):
        raise ParticipantError(side, i, None, "external_id", f"expected a string, got {ext!r}")
    level = p.get("level")
    if level is not None and (
        not isinstance(level, int) or isinstance(level, bool) or finite_number(level) is None
    ):
        raise ParticipantError(side, i, ext, "level", f"expected an integer or null, got {level!r}")
    position = p.get("position")
    if position is not None and not isinstance(position, str):
        raise ParticipantError(
            side, i, ext, "position", f"expected a string or null, got {position!r}"
        )
    if position is not None:
        problem, named = schema.position(position)
        if problem is not None:
            raise ParticipantError(side, i, ext, "position", problem)
        if level is None and position:
            level = named
    active = p.get("active", True)
    if not isinstance(active, bool):
        raise ParticipantError(side, i, ext, "active", f"expected true or false, got {active!r}")
    attrs = p.get("attributes")
    if attrs is None:
        attrs = {}
    if not isinstance(attrs, Mapping):
        raise ParticipantError(side, i, ext, "attributes", f"expected an object, got {attrs!r}")
    out_attrs: dict[str, Any] = {}
    for key, ftype, allowed in schema.fields:
        v = attrs.get(key)
        where = f"attributes.{key}"
        if v is None:
            continue
        if ftype == "category":
            if not isinstance(v, str):
                raise ParticipantError(side, i, ext, where, f"expected a string, got {v!r}")
            if not v.strip():
                continue
            if allowed is None:
                out_attrs[key] = nfc(v).strip()
                continue
            nv = schema.category_key(v)
            if nv not in allowed:
                raise ParticipantError(
                    side,
                    i,
                    ext,
                    where,
                    f"unknown value {v!r}; expected one of: {', '.join(allowed.values())}",
                )
            out_attrs[key] = allowed[nv]
        elif ftype == "multi":
            out_attrs[key] = _str_list(v, side, i, ext, where, schema.cache)
        elif ftype == "number":
            number = finite_number(v)
            if number is None or abs(number) > MAX_ABS_NUMBER:
                raise ParticipantError(
                    side,
                    i,
                    ext,
                    where,
                    f"expected a finite number, got {v!r} "
                    f"(numbers range from {-MAX_ABS_NUMBER:g} to {MAX_ABS_NUMBER:g})",
                )
            out_attrs[key] = number
        else:
            if not isinstance(v, str):
                raise ParticipantError(side, i, ext, where, f"expected a string, got {v!r}")
            out_attrs[key] = v
    return {
        "external_id": ext,
        "level": level,
        "skills": _str_list(p.get("skills"), side, i, ext, "skills", schema.cache),
        "exclude": [x.strip() for x in _raw_exclude(p.get("exclude"), side, i, ext) if x.strip()],
        "active": active,
        "attributes": out_attrs,
    }


def _raw_exclude(value: object, side: str, i: int, ext: str | None) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(x, str) for x in value):
        raise ParticipantError(
            side, i, ext, "exclude", f"expected a list of external ids, got {value!r}"
        )
    return list(value)


def encode_side(participants: Sequence[object], config: Mapping[str, Any], side: str) -> Side:
    """Validate and encode one side of the cohort.

    Parameters
    ----------
    participants : sequence of dict
        Mentees or mentors, in the API's JSON shape.
    config : dict
        A config returned by :func:`scoring.validate_config`.
    side : {"mentees", "mentors"}
        Which side, used in error messages.

    Returns
    -------
    Side

    Raises
    ------
    EmptyCohortError
        If ``participants`` is empty.
    ParticipantError
        On the first invalid participant, or a repeated ``external_id``.

    Examples
    --------
    >>> cfg = {"fields": [{"key": "city", "type": "category", "values": ["Oslo", "Rome"]}],
    ...        "position_levels": []}
    >>> s = encode_side([{"external_id": "a", "attributes": {"city": "rome"}},
    ...                  {"external_id": "b"}], cfg, "mentors")
    >>> s.categories["city"].tolist()
    [1, -1]
    """
    if not isinstance(participants, Sequence) or isinstance(participants, str | bytes):
        raise ParticipantError(
            side, 0, None, "", f"expected a list of participants, got {type(participants).__name__}"
        )
    n = len(participants)
    if n == 0:
        raise EmptyCohortError(side)
    fields = list(config.get("fields") or [])
    schema = _Schema(config)
    recs = [_validate(p, schema, side, i) for i, p in enumerate(participants)]
    ids = [r["external_id"] for r in recs]
    seen: dict[str, int] = {}
    for i, ext in enumerate(ids):
        if ext is None:
            continue
        if ext in seen:
            raise ParticipantError(
                side,
                i,
                ext,
                "external_id",
                f"duplicate external_id {ext!r} (also {side}[{seen[ext]}])",
            )
        seen[ext] = i
    level = np.array(
        [np.nan if r["level"] is None else float(r["level"]) for r in recs], dtype=np.float64
    )
    categories: dict[str, IntArray] = {}
    labels: dict[str, list[str]] = {}
    multis: dict[str, list[list[str]]] = {}
    numbers: dict[str, FloatArray] = {}
    texts: dict[str, list[str]] = {}
    for f in fields:
        key, ftype = f["key"], f["type"]
        vals = [r["attributes"].get(key) for r in recs]
        if ftype == "category":
            categories[key], labels[key] = _category_codes(vals, f.get("values"))
        elif ftype == "multi":
            multis[key] = [[] if v is None else v for v in vals]
        elif ftype == "number":
            numbers[key] = np.array([np.nan if v is None else v for v in vals], np.float64)
        else:
            texts[key] = ["" if v is None else v for v in vals]
    return Side(
        name=side,
        n=n,
        ids=ids,
        skills=[r["skills"] for r in recs],
        level=level,
        categories=categories,
        multis=multis,
        numbers=numbers,
        texts=texts,
        exclude=[r["exclude"] for r in recs],
        active=np.array([r["active"] for r in recs], dtype=bool),
        category_labels=labels,
    )


def _category_codes(values: list[Any], declared: list[str] | None) -> tuple[IntArray, list[str]]:
    """Codes of one category column and the labels they index (an open field's: first seen)."""
    labels = list(declared) if declared is not None else []
    index = {category_key(v): k for k, v in enumerate(labels)}
    by_spelling: dict[str, int] = {}  # values repeat: normalize each spelling once
    codes = np.full(len(values), -1, dtype=np.int64)
    for n, v in enumerate(values):
        if v is None:
            continue
        code = by_spelling.get(v)
        if code is None:
            key = category_key(v)
            code = index.get(key)
            if code is None:  # only an open field meets new values (declared were checked)
                code = index[key] = len(labels)
                labels.append(v)
            by_spelling[v] = code
        codes[n] = code
    return codes, labels

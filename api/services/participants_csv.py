"""The CSV upload format of participants. Pure: bytes in, participant dicts out.

The header names the columns, in any order: ``external_id,role,name`` (required),
``email,position,level,skills,capacity,exclude`` and ``active`` (optional), then one
column per program field (its ``key``). Multi-valued cells (``skills``, ``exclude``,
``multi`` fields) separate values with ``;``. Numbers are parsed per field type. An
empty cell is an empty value: it clears that value of an existing participant.

Errors are keyed ``"row N.column"`` where N is the row number a spreadsheet shows:
the header is row 1, the first participant row 2. Blank rows are skipped but counted.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from api.services.errors import ValidationFailed
from api.services.participants_validation import (
    INT_BOUNDS,
    REQUIRED,
    ErrorLog,
    bound_message,
)

#: Columns every upload must have: the fields every participant must have.
REQUIRED_COLUMNS = REQUIRED
#: The upload format's header before the program's fields (DESIGN section 3)...
CONTRACT_COLUMNS = (
    *REQUIRED_COLUMNS,
    "email",
    "position",
    "level",
    "skills",
    "capacity",
    "exclude",
)
#: ...and every base column an upload may carry ("active" is optional, default true).
BASE_COLUMNS = (*CONTRACT_COLUMNS, "active")
LIST_SEPARATOR = ";"
# Plain ASCII decimals only: Python's int() and float() also take Unicode digits ("٣"),
# underscores ("1_000"), "inf" and "nan", which no spreadsheet means; a leading zero
# ("007") is an id or a code mistyped as a number.
_INT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)", re.ASCII)
_NUMBER = re.compile(r"[+-]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", re.ASCII)
#: More digits than any bound in INT_BOUNDS has: refused before int() (which takes time
#: and fails past 4300 digits) with the message of the bound.
_MAX_DIGITS = max(len(str(high)) for _, high in INT_BOUNDS.values()) + 1
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


@dataclass(frozen=True)
class CsvRow:
    """One participant row: its spreadsheet row number and the values its columns give."""

    row: int
    data: dict[str, Any]


def _plain_hint(cell: str) -> str:
    """Why a cell Python would read as a number is refused, or nothing."""
    try:
        float(cell)
    except ValueError:
        return ""
    return " (plain digits 0-9 only: no other digits, leading zeros or underscores)"


def _split(cell: str) -> list[str]:
    return [v.strip() for v in cell.split(LIST_SEPARATOR) if v.strip()]


def _parse_cell(kind: str, cell: str, column: str = "") -> Any:
    """The value of a non-empty cell for a column of ``kind``; ValueError says what is wrong.

    A whole number is only parsed here; its bounds are checked with the rest of the
    participant (:func:`~api.services.participants_validation.check_participant`).
    """
    if kind in ("int",):
        if not _INT.fullmatch(cell):
            raise ValueError(f"expected a whole number, got {cell!r}{_plain_hint(cell)}")
        if len(cell.lstrip("+-").lstrip("0")) > _MAX_DIGITS and column in INT_BOUNDS:
            raise ValueError(bound_message(column, cell))
        return int(cell)
    if kind == "number":
        try:
            number = float(cell)
        except ValueError:
            raise ValueError(f"expected a number, got {cell!r}") from None
        if math.isfinite(number) and not _NUMBER.fullmatch(cell):
            raise ValueError(f"expected a number, got {cell!r}{_plain_hint(cell)}")
        if not math.isfinite(number):
            raise ValueError(f"expected a finite number, got {cell!r}")
        return number
    if kind in ("list", "multi"):
        return _split(cell)
    if kind == "bool":
        if cell.lower() not in _BOOLEANS:
            raise ValueError(f"expected true or false, got {cell!r}")
        return _BOOLEANS[cell.lower()]
    if kind == "role":
        return cell.lower()
    return cell  # text, category


_BASE_KINDS = {
    "level": "int",
    "capacity": "int",
    "skills": "list",
    "exclude": "list",
    "active": "bool",
    "role": "role",
}


def _header(names: list[str], fields: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """``(column, kind)`` per header cell, or ValidationFailed keyed ``header``."""
    problems: list[str] = []
    columns: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, raw in enumerate(names, start=1):
        name = raw.strip()
        if name in seen:
            problems.append(f"column {i}: duplicate column {name!r}")
        elif name in BASE_COLUMNS:
            columns.append((name, _BASE_KINDS.get(name, "text")))
        elif name in fields:
            columns.append((name, str(fields[name]["type"])))
        else:
            expected = ", ".join([*BASE_COLUMNS, *fields])
            problems.append(f"column {i}: unknown column {name!r}; expected some of: {expected}")
        seen.add(name)
    missing = [c for c in REQUIRED_COLUMNS if c not in seen]
    if missing:
        problems.append(f"missing required column(s): {', '.join(missing)}")
    if problems:
        raise ValidationFailed({"header": problems})
    return columns


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # a spreadsheet's byte-order mark is not a column name
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            {"csv": [f"not UTF-8 text (byte {exc.start}); save the file as CSV UTF-8"]}
        ) from None


def parse_csv(
    data: bytes,
    fields: Mapping[str, Mapping[str, Any]],
    *,
    log: ErrorLog,
    blank_rows: list[int] | None = None,
) -> list[CsvRow]:
    """Parse an upload into rows of participant values; cell problems go to ``log``.

    The numbers of the blank rows skipped are appended to ``blank_rows`` when given.

    Each row's ``data`` holds the participant keys its header gives, with program
    fields under ``attributes``; an empty cell reads as ``None`` (a list column as
    ``[]``). Header problems raise :class:`ValidationFailed` at once.
    """
    reader = csv.reader(io.StringIO(_text(data), newline=""), strict=True)
    rows: list[CsvRow] = []
    try:
        header = next(reader, None)
        if not header or not any(c.strip() for c in header):
            raise ValidationFailed(
                {"csv": ["empty upload: expected a header row, e.g. external_id,role,name"]}
            )
        columns = _header(header, fields)
        plan = _Plan.of(columns, fields)
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                if blank_rows is not None:
                    blank_rows.append(number)
                continue
            if len(cells) != len(columns):
                log.add(
                    f"row {number}",
                    f"expected {len(columns)} cells as in the header, got {len(cells)}",
                )
                continue
            rows.append(CsvRow(number, _row(number, cells, plan, log)))
    except csv.Error as exc:
        raise ValidationFailed({f"row {reader.line_num}": [f"unreadable CSV: {exc}"]}) from None
    if not rows and not log.total:
        raise ValidationFailed({"csv": ["no participant rows after the header"]})
    return rows


#: Column kinds whose non-empty cell is its value as it stands (stripped).
_VERBATIM = frozenset({"text", "category"})


@dataclass(frozen=True)
class _Plan:
    """How each column of a file is read, worked out once from its header."""

    columns: tuple[tuple[str, str, bool], ...]  # (name, kind, a base column?) in order
    attributes: bool  # whether a row carries ``attributes`` (a program field is a column)

    @classmethod
    def of(cls, columns: list[tuple[str, str]], fields: Mapping[str, Mapping[str, Any]]) -> _Plan:
        plan = tuple((name, kind, name in BASE_COLUMNS) for name, kind in columns)
        return cls(plan, any(name in fields and not base for name, _, base in plan))


def _row(number: int, cells: list[str], plan: _Plan, log: ErrorLog) -> dict[str, Any]:
    values: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for (name, kind, base), raw in zip(plan.columns, cells, strict=True):
        cell = raw.strip()
        value: Any
        if not cell:
            value = [] if kind == "list" else None
        elif kind in _VERBATIM:
            value = cell
        else:
            try:
                value = _parse_cell(kind, cell, name)
            except ValueError as exc:
                log.add(f"row {number}.{name}", str(exc))
                continue
        if base:
            if name == "active" and value is None:
                continue  # an empty cell keeps the stored value (new participants are active)
            values[name] = value
        else:
            attributes[name] = value
    if plan.attributes:
        values["attributes"] = attributes
    return values


def column_of(path: str) -> str:
    """The CSV column a participant problem path refers to (``attributes.x.1`` -> ``x``)."""
    parts = path.split(".")
    return parts[1] if parts[0] == "attributes" and len(parts) > 1 else parts[0]

"""Participants and matches as CSV files, in the upload format of the HTTP API.

Header ``external_id,role,name,email,position,level,skills,capacity,exclude`` then
one column per program field (its ``key``); multi-valued cells are ``;``-separated.
Reading goes through the upload parser (:mod:`api.services.participants_csv`) so a
file this module writes is exactly what ``POST .../participants`` accepts.

The matches file is for people and spreadsheets: it is written by
:func:`api.services.export_files.csv_lines`, the one CSV writer of downloads and
exports (formula cells escaped, UTF-8 with a BOM).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from api.services.errors import ValidationFailed
from api.services.export_files import csv_lines
from api.services.participants_csv import CONTRACT_COLUMNS, LIST_SEPARATOR, column_of, parse_csv
from api.services.participants_validation import ErrorLog, check_participant, fields_by_key
from models.vocabulary import Role
from scoring.positions import PositionRule

MATCH_COLUMNS = ("mentee_external_id", "mentor_external_id", "score", "reasons")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return LIST_SEPARATOR.join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def participants_csv(
    participants: Iterable[Mapping[str, Any]], role: str, field_keys: Sequence[str]
) -> str:
    """The CSV text of ``participants`` (profile dicts), all of one ``role``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CONTRACT_COLUMNS, *field_keys])
    for p in participants:
        attributes = p.get("attributes") or {}
        base = [role if c == "role" else p.get(c) for c in CONTRACT_COLUMNS]
        writer.writerow([_cell(v) for v in [*base, *(attributes.get(k) for k in field_keys)]])
    return out.getvalue()


def read_participants(
    data: bytes, config: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(mentees, mentors)`` profile dicts of an upload-format CSV; ValidationFailed if bad.

    Each row is checked against the (validated) ``config`` as an upload checks it
    (bounds, characters, special categories in values, positions), errors keyed
    ``row N.column``.
    """
    log = ErrorLog()
    by_key = fields_by_key(config)
    positions = PositionRule(config)
    rows = parse_csv(data, by_key, log=log)
    people: list[dict[str, Any]] = []
    for row in rows:
        clean, problems = check_participant(row.data, by_key, positions=positions)
        for path, message in problems:
            log.add(f"row {row.row}.{column_of(path)}", message)
        people.append(clean)
    if log.total:  # the detail names every row (up to the log's cap): the CLI prints it
        raise ValidationFailed(log.errors)
    mentees = [p for p in people if p.get("role") == Role.MENTEE]
    mentors = [p for p in people if p.get("role") == Role.MENTOR]
    return mentees, mentors


def matches_csv(rows: Iterable[Sequence[Any]]) -> str:
    """``mentee_external_id,mentor_external_id,score,reasons`` (reasons ``;``-joined),
    BOM first, every text cell formula-escaped."""
    cells = (
        (mentee, mentor, None if score is None else f"{score:.6f}", "; ".join(reasons))
        for mentee, mentor, score, reasons in rows
    )
    return "".join(csv_lines(MATCH_COLUMNS, cells))

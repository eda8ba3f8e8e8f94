"""The files ``mentormatch match`` writes: the pairs (CSV, JSON or Excel), the unmatched.

Every text cell of a spreadsheet (the xlsx sheets, the unmatched CSV) is
formula-escaped (:func:`api.services.export_files.escape_formula`): a name such as
``=HYPERLINK(...)`` is shown, never run. openpyxl is imported only for xlsx.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from api.services import csv_format
from api.services.export_files import escape_formula, table_csv

FORMATS = ("csv", "json", "xlsx")
#: Reasons shown per pair in the xlsx sheet (the strongest first).
TOP_REASONS = 3


class Pair(NamedTuple):
    mentee: str
    mentor: str
    score: float
    reasons: list[str]


class Unmatched(NamedTuple):
    mentee: str
    name: str
    reason: str


def write(
    out: Path,
    fmt: str,
    pairs: Sequence[Pair],
    unmatched: Sequence[Unmatched],
    stats: Mapping[str, Any],
) -> None:
    """Write the pairs (and the unmatched) to ``out`` in ``fmt``, one of :data:`FORMATS`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":  # one row per mentee; the unmatched have no mentor and their reason
        rows: list[tuple[Any, ...]] = [tuple(p) for p in pairs]
        rows += [(u.mentee, None, None, [f"unmatched: {u.reason}"]) for u in unmatched]
        out.write_text(csv_format.matches_csv(rows), encoding="utf-8")
    elif fmt == "json":
        document = {
            "pairs": [p._asdict() for p in pairs],
            "unmatched": [u._asdict() for u in unmatched],
            "stats": stats,
        }
        out.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", "utf-8")
    elif fmt == "xlsx":
        _xlsx(out, pairs, unmatched)
    else:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")


def _xlsx(out: Path, pairs: Sequence[Pair], unmatched: Sequence[Unmatched]) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)  # streams rows: no cell objects kept per pair
    sheet = book.create_sheet("pairs")
    sheet.append(["mentee_external_id", "mentor_external_id", "score", "top_reasons"])
    for p in pairs:
        reasons = "; ".join(p.reasons[:TOP_REASONS])
        sheet.append(
            [
                escape_formula(p.mentee),
                escape_formula(p.mentor),
                round(p.score, 6),
                escape_formula(reasons),
            ]
        )
    sheet = book.create_sheet("unmatched")
    sheet.append(["mentee_external_id", "name", "reason"])
    for u in unmatched:
        sheet.append([escape_formula(u.mentee), escape_formula(u.name), escape_formula(u.reason)])
    book.save(out)


def write_unmatched(out: Path, unmatched: Sequence[Unmatched]) -> None:
    """The unmatched mentees with their reasons, as CSV (UTF-8 with a BOM, escaped)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"mentee_external_id": u.mentee, "name": u.name, "reason": u.reason} for u in unmatched]
    text = table_csv(rows) if rows else "\ufeffmentee_external_id,name,reason\r\n"
    out.write_text(text, encoding="utf-8")

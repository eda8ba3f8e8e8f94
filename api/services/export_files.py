"""An organization export as a file: JSON, or a zip of one CSV per table.

CSV files open in spreadsheets, so every cell that a spreadsheet would read as a
formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a
leading ``'`` (OWASP's "CSV injection" advice), and each file starts with a UTF-8
byte order mark, without which Excel reads UTF-8 as the local code page. Nested
values (configs, breakdowns, reasons, details) are written as JSON text in their cell.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from models.vocabulary import ExportFormat

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
CONTENT_TYPES = {ExportFormat.JSON: "application/json", ExportFormat.CSV: "application/zip"}


def escape_formula(text: str) -> str:
    """``text`` with a leading ``'`` if a spreadsheet would take it for a formula.

    >>> escape_formula("=HYPERLINK(\\"http://x\\")"), escape_formula("-3"), escape_formula("ok")
    ('\\'=HYPERLINK("http://x")', "'-3", 'ok')
    """
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell(value: Any) -> str:
    """A value as CSV cell text: numbers as numbers, nested values as JSON, text escaped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # a number is no formula, even a negative one
    if isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    else:
        text = str(value)
    return escape_formula(text)


def csv_lines(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """CSV text line by line, BOM first, then the header: for streaming a large table.

    Every cell, header included, goes through :func:`cell`.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([escape_formula(name) for name in columns])
    yield BOM + out.getvalue()
    for row in rows:
        out.seek(0)
        out.truncate()
        writer.writerow([cell(value) for value in row])
        yield out.getvalue()


def table_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """One table as CSV text, BOM first; the header is the union of the rows' keys."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    return "".join(csv_lines(columns, ([row.get(key) for key in columns] for row in rows)))


def csv_zip(tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> bytes:
    """A zip holding ``<table>.csv`` for each table (an empty table: its header only)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, rows in tables.items():
            archive.writestr(f"{name}.csv", table_csv(rows).encode("utf-8"))
    return buffer.getvalue()


def json_bytes(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")

"""A run's proposals as a file: every pair and every unmatched mentee, CSV or xlsx.

One row per proposal: the mentee's and the mentor's name and external id, the score,
one column per criterion of the run's config (the breakdown's *similarity* in
[0, 1], headed ``<criterion> (similarity)``: how well the pair fits on that
criterion, whatever its weight; the contributions, which sum to the score, stay in
the JSON), the reasons (``; ``-joined), the status and the match id (what
``publish`` takes). The mentees the run left unmatched follow: in CSV as rows of
status ``unmatched`` with their reason in ``reasons``, in xlsx on a second sheet.

Cells are escaped as every CSV of the project is
(:func:`api.services.export_files.escape_formula`): text starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return gets a leading ``'``; numbers stay numbers.

Size: both files are built in memory, before the first byte is sent (so that a
failure is still a problem answer and the request's session is closed as usual),
from one query read in chunks of :data:`CHUNK_ROWS` (``yield_per``): memory is the
file, about 200 bytes a CSV row, not the ORM rows. A run of more than
:data:`MAX_ROWS` rows (proposals and unmatched together) is refused with a ``422``
naming the count; a run of 100,000 mentees stays under it.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from api.services.context import Actor
from api.services.errors import ValidationFailed
from api.services.export_files import csv_lines, escape_formula
from api.services.lookup import get_owned, get_program, run_config
from api.services.match_views import ref
from models import Match, Participant, Run, UnmatchedMentee


class MatchesFormat(StrEnum):
    """How ``GET .../runs/{rid}/matches`` answers: a JSON page, or a file of the run."""

    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


MEDIA_TYPES = {
    MatchesFormat.JSON: "application/json",
    MatchesFormat.CSV: "text/csv",
    MatchesFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

#: Rows (proposals + unmatched) a download may hold; it is built in memory.
MAX_ROWS = 250_000
#: Rows read from the database at a time.
CHUNK_ROWS = 1_000
UNMATCHED = "unmatched"

PAIR_COLUMNS = ("mentee_name", "mentee_external_id", "mentor_name", "mentor_external_id", "score")
TAIL_COLUMNS = ("reasons", "status", "match_id")
UNMATCHED_COLUMNS = ("mentee_name", "mentee_external_id", "reason")

# Characters an xlsx cell cannot hold (control characters but tab, LF and CR).
_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True)
class Download:
    """A file ready to send."""

    content: bytes
    media_type: str
    filename: str


def download_run_matches(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    run_id: uuid.UUID,
    *,
    fmt: MatchesFormat,
    status: str | None = None,
) -> Download:
    """Every proposal of the run (of ``status`` if given) and its unmatched, as ``fmt``.

    A run of another organization is a 404, one of more than :data:`MAX_ROWS` rows
    a ValidationFailed.
    """
    if fmt is MatchesFormat.JSON:
        raise ValueError("JSON is the paginated list (matches.list_run_matches), not a file")
    program = get_program(session, actor, program_id)
    run = get_owned(session, Run, run_id, actor, program_id=program_id)
    criteria = [str(c["name"]) for c in run_config(session, program, run).get("criteria", [])]
    columns = [*PAIR_COLUMNS, *(f"{name} (similarity)" for name in criteria), *TAIL_COLUMNS]
    total = _count(session, run.id, status)
    if total > MAX_ROWS:
        raise ValidationFailed(
            {
                "format": [
                    f"a download holds up to {MAX_ROWS} rows and this run has {total} "
                    "(proposals and unmatched); page through the JSON instead"
                ]
            }
        )
    if fmt is MatchesFormat.CSV:
        rows = _csv_rows(session, run.id, criteria, status)
        content = "".join(csv_lines(columns, rows)).encode("utf-8")
    else:
        content = _xlsx(session, run.id, criteria, columns, status)
    return Download(content, MEDIA_TYPES[fmt], f"run-{run.id}-matches.{fmt.value}")


def _count(session: Session, run_id: uuid.UUID, status: str | None) -> int:
    pairs = select(func.count()).select_from(Match).where(Match.run_id == run_id)
    if status is not None:
        pairs = pairs.where(Match.status == status)
    unmatched = select(func.count()).where(UnmatchedMentee.run_id == run_id)
    return int(session.scalar(pairs) or 0) + int(session.scalar(unmatched) or 0)


def _person(participant: Participant) -> tuple[Any, Any]:
    """(name, external_id) as a match shows them (none once erased)."""
    shown = ref(participant)
    return shown["name"], shown["external_id"]


def _pairs(
    session: Session, run_id: uuid.UUID, status: str | None
) -> Iterator[tuple[Match, Participant, Participant]]:
    """The run's proposals with both people, in the JSON list's order, chunked."""
    mentee, mentor = aliased(Participant), aliased(Participant)
    stmt = (
        select(Match, mentee, mentor)
        .join(mentee, mentee.id == Match.mentee_id)
        .join(mentor, mentor.id == Match.mentor_id)
        .where(Match.run_id == run_id)
        .order_by(Match.created_at, Match.id)
        .execution_options(yield_per=CHUNK_ROWS)
    )
    if status is not None:
        stmt = stmt.where(Match.status == status)
    yield from session.execute(stmt)


def _unmatched(session: Session, run_id: uuid.UUID) -> Iterator[tuple[str, Participant]]:
    stmt = (
        select(UnmatchedMentee.reason, Participant)
        .join(Participant, Participant.id == UnmatchedMentee.mentee_id)
        .where(UnmatchedMentee.run_id == run_id)
        .order_by(UnmatchedMentee.reason, Participant.external_id, Participant.id)
        .execution_options(yield_per=CHUNK_ROWS)
    )
    yield from session.execute(stmt)


def _pair_row(
    match: Match, mentee: Participant, mentor: Participant, criteria: Sequence[str]
) -> list[Any]:
    similarity = {item["criterion"]: item["similarity"] for item in match.breakdown or []}
    return [
        *_person(mentee),
        *_person(mentor),
        match.score,
        *(similarity.get(name) for name in criteria),
        "; ".join(match.reasons or []),
        match.status,
        str(match.id),
    ]


def _csv_rows(
    session: Session, run_id: uuid.UUID, criteria: Sequence[str], status: str | None
) -> Iterator[list[Any]]:
    for match, mentee, mentor in _pairs(session, run_id, status):
        yield _pair_row(match, mentee, mentor, criteria)
    blank = [None] * (3 + len(criteria))  # mentor name and id, score, similarities
    for reason, mentee in _unmatched(session, run_id):
        yield [*_person(mentee), *blank, reason, UNMATCHED, None]


def _xlsx_cell(value: Any) -> Any:
    """Numbers as numbers; text escaped like a CSV cell (openpyxl writes a str starting
    with ``=`` as a formula) and without the control characters xlsx cannot hold."""
    if isinstance(value, str):
        return escape_formula(_ILLEGAL_XLSX.sub("", value))
    return value


def _xlsx(
    session: Session,
    run_id: uuid.UUID,
    criteria: Sequence[str],
    columns: Sequence[str],
    status: str | None,
) -> bytes:
    book = Workbook(write_only=True)
    proposals = book.create_sheet("proposals")
    proposals.append([_xlsx_cell(name) for name in columns])
    for match, mentee, mentor in _pairs(session, run_id, status):
        proposals.append([_xlsx_cell(v) for v in _pair_row(match, mentee, mentor, criteria)])
    unmatched = book.create_sheet(UNMATCHED)
    unmatched.append(list(UNMATCHED_COLUMNS))
    for reason, mentee in _unmatched(session, run_id):
        unmatched.append([_xlsx_cell(v) for v in (*_person(mentee), reason)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()

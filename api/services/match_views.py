"""How a match and the people in it are shown: to the API, in messages, in exports.

Every reader goes through :func:`~api.services.lookup.profile`, so an erased person
shows no name and no external id wherever a match is shown.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import BindParameter, Row, Uuid, any_, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, aliased

from api.services.lookup import ANONYMOUS, profile
from api.services.pagination import often_paged
from models import Match, Participant, Program
from models.prepared import PreparedSelect


def ref(participant: Participant) -> dict[str, Any]:
    """How a match names a person: ids and display name only."""
    shown = profile(participant)
    return {"id": participant.id, "external_id": shown["external_id"], "name": shown["name"]}


def label(participant: Participant) -> str:
    """A person in a message: the external id, or the uuid once erased (never a name)."""
    return str(profile(participant)["external_id"] or participant.id)


def mentor_label(participant: Participant) -> str:
    return f"mentor {label(participant)}"


def people(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Participant]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.scalars(select(Participant).where(Participant.id.in_(wanted)))
    return {p.id: p for p in rows}


#: A person as a match names them: the four columns :func:`ref` reads.
_REF_COLUMNS = select(
    Participant.id, Participant.external_id, Participant.name, Participant.erased_at
)
#: PostgreSQL: the ids as one array parameter (``= ANY``): one SQL text whatever their
#: number, so neither SQLAlchemy nor psycopg rewrites it per call (an ``IN`` of 100
#: ids was expanded into 100 placeholders, then converted, at every page).
_REFS_BY_ARRAY = PreparedSelect(
    _REF_COLUMNS.where(Participant.id == any_(bindparam("ids", type_=postgresql.ARRAY(Uuid()))))
)
#: Elsewhere (SQLite): an expanding ``IN``.
_REFS_BY_LIST = _REF_COLUMNS.where(Participant.id.in_(bindparam("ids", expanding=True)))


def refs(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """:func:`ref` of each participant, read as the four columns it needs (a page of
    matches names 100 people: no ORM objects, no JSON columns decoded)."""
    wanted = list(set(ids))
    if not wanted:
        return {}
    postgres = session.get_bind().dialect.name == "postgresql"
    params = {"ids": wanted}
    rows = (
        _REFS_BY_ARRAY.all(session, params) if postgres else session.execute(_REFS_BY_LIST, params)
    )
    return {
        ident: {"id": ident, "external_id": None, "name": ANONYMOUS}
        if erased_at is not None
        else {"id": ident, "external_id": external_id, "name": name}
        for ident, external_id, name, erased_at in rows
    }


def views(session: Session, matches: Sequence[Match]) -> list[dict[str, Any]]:
    """The API's view of each match, with both people named as :func:`ref` names them."""
    who = refs(session, [m.mentee_id for m in matches] + [m.mentor_id for m in matches])
    return [_view(m, who[m.mentee_id], who[m.mentor_id]) for m in matches]


def _view(match: Match, mentee: dict[str, Any], mentor: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": match.id,
        "program_id": match.program_id,
        "run_id": match.run_id,
        "mentee": mentee,
        "mentor": mentor,
        "score": match.score,
        "breakdown": match.breakdown,
        "reasons": match.reasons,
        "predicted_success": match.predicted_success,
        "status": match.status,
        "version": match.version,
        "created_at": match.created_at,
        "updated_at": match.updated_at,
        "edited_by": match.edited_by,
        "published_by": match.published_by,
        "published_at": match.published_at,
        "ended_by": match.ended_by,
        "ended_at": match.ended_at,
        "ended_reason": match.ended_reason,
    }


# ----------------------------------------------------------------- reading views as rows
#
# Reading a page of 50 matches as ORM objects cost the web tier more than the rest of
# the request (instance loading and its bookkeeping), and a single match took three
# statements (the match, its program, its people). The readers below read Core rows of
# the columns a view shows, with statements built once at import, and give the same
# views as :func:`views` (the same keys and values).

#: The match's own columns of the view, under the view's keys.
_MATCH_COLUMNS = (
    Match.id,
    Match.program_id,
    Match.run_id,
    Match.score,
    Match.breakdown,
    Match.reasons,
    Match.predicted_success,
    Match.status,
    Match.version,
    Match.created_at,
    Match.updated_at,
    Match.edited_by,
    Match.published_by,
    Match.published_at,
    Match.ended_by,
    Match.ended_at,
    Match.ended_reason,
)
_MATCH_KEYS = tuple(column.key for column in _MATCH_COLUMNS)
_ORGANIZATION: BindParameter[uuid.UUID] = bindparam("organization_id")

#: The matches of the organization ``:organization_id`` in the program ``:program_id``
#: if it is not deleted: the rows of a page of ``GET .../matches``, to name their people
#: by :func:`page_views`.
#:
#: The organization is named explicitly, as the ORM guard (``models.tenant_guard``)
#: names it again: it filters this statement too (an ORM-enabled select of mapped
#: columns), and PostgreSQL's row-level security a third time.
PROGRAM_MATCHES = often_paged(
    select(*_MATCH_COLUMNS, Match.mentee_id, Match.mentor_id)
    .join(Program, Program.id == Match.program_id)
    .where(
        Match.organization_id == _ORGANIZATION,
        Match.program_id == bindparam("program_id"),
        Program.deleted_at.is_(None),
    ),
    Match.created_at,
    Match.id,
)
#: The matches of the organization ``:organization_id`` in the run ``:run_id`` (whose
#: program the reader has checked): the rows of a page of a run's proposals.
RUN_MATCHES = often_paged(
    select(*_MATCH_COLUMNS, Match.mentee_id, Match.mentor_id).where(
        Match.organization_id == _ORGANIZATION, Match.run_id == bindparam("run_id")
    ),
    Match.created_at,
    Match.id,
)


def page_views(session: Session, rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """The views of rows of :data:`PROGRAM_MATCHES` or :data:`RUN_MATCHES`, both people
    named by :func:`refs`.

    The people are a second statement, by primary key, rather than joined to the page:
    a join of ``participants`` twice gave PostgreSQL's planner, on a table whose
    statistics lagged behind its rows (a program just imported), a nested loop over the
    organization's index (86 ms for 50 matches), where the primary key lookups of
    :func:`refs` cost a round trip (~0.3 ms)."""
    # Rows read as dicts: a Row's attribute lookup is a slower fallback.
    read = [row._asdict() for row in rows]
    who = refs(session, [m["mentee_id"] for m in read] + [m["mentor_id"] for m in read])
    out = []
    for row, m in zip(rows, read, strict=True):
        view = dict(zip(_MATCH_KEYS, row, strict=False))  # the row's first columns
        view["mentee"] = who[m["mentee_id"]]
        view["mentor"] = who[m["mentor_id"]]
        out.append(view)
    return out


_MENTEE = aliased(Participant, name="mentee")
_MENTOR = aliased(Participant, name="mentor")

#: The match ``:match_id`` of the organization ``:organization_id`` in a program that is
#: not deleted, with both its people: ``GET /v1/matches/{id}`` in one statement (it was
#: three: the match, its program, its people). The organization is named for the match
#: and both people, as the ORM guard names it too (aliases included).
MATCH_VIEW = (
    select(
        *_MATCH_COLUMNS,
        Match.mentee_id,
        _MENTEE.external_id.label("mentee_external_id"),
        _MENTEE.name.label("mentee_name"),
        _MENTEE.erased_at.label("mentee_erased_at"),
        Match.mentor_id,
        _MENTOR.external_id.label("mentor_external_id"),
        _MENTOR.name.label("mentor_name"),
        _MENTOR.erased_at.label("mentor_erased_at"),
    )
    .join(_MENTEE, _MENTEE.id == Match.mentee_id)
    .join(_MENTOR, _MENTOR.id == Match.mentor_id)
    .join(Program, Program.id == Match.program_id)
    .where(
        Match.id == bindparam("match_id"),
        Match.organization_id == _ORGANIZATION,
        _MENTEE.organization_id == _ORGANIZATION,
        _MENTOR.organization_id == _ORGANIZATION,
        Program.deleted_at.is_(None),
    )
)


def match_view(row: Row[Any]) -> dict[str, Any]:
    """The view of a row of :data:`MATCH_VIEW`: what :func:`views` gives for the same
    match, an erased person named as :func:`ref` names them (no external id,
    "Anonymous user")."""
    view = dict(zip(_MATCH_KEYS, row, strict=False))  # the row's first columns
    m = row._mapping
    view["mentee"] = _person(
        m["mentee_id"], m["mentee_external_id"], m["mentee_name"], m["mentee_erased_at"]
    )
    view["mentor"] = _person(
        m["mentor_id"], m["mentor_external_id"], m["mentor_name"], m["mentor_erased_at"]
    )
    return view


def _person(ident: uuid.UUID, external_id: str | None, name: str, erased: Any) -> dict[str, Any]:
    if erased is not None:
        return {"id": ident, "external_id": None, "name": ANONYMOUS}
    return {"id": ident, "external_id": external_id, "name": name}

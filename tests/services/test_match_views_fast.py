"""The matches page and a match read as Core rows, with the views the ORM path gave.

``list_matches`` reads a page as rows of the columns a view shows (no ``Match``
object), then names its people by primary key (``match_views.refs``); ``get_match``
reads the match, its program's liveness and both people in one SELECT. These tests pin
the statements, that the views equal :func:`match_views.views` of the loaded matches
(erased people, cursors and statuses included), the organization's scoping, and that
the breakdown passed through as it is dumps as marshmallow dumps it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from marshmallow import Schema
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from api.schemas.matches import BreakdownItemSchema, MatchSchema
from api.services import erasure, match_views, matches, programs
from api.services.errors import NotFound
from models import Match
from models.tenant_guard import scope_session
from tests.factories import Scenario, make_org, proposals, sent_statements, set_status


def _scenario(session: Session, name: str = "Acme") -> tuple[Scenario, list[uuid.UUID]]:
    """Five proposals, one published, with an explanation, and one mentor erased; and
    the match ids in the order of a page."""
    s = proposals(session, make_org(session, name), pairs=5)
    for match in s.matches:
        match.breakdown = [
            {"criterion": "skills", "weight": 0.75, "similarity": 0.5, "contribution": 0.375},
            {"criterion": "languages", "weight": 0.25, "similarity": 1.0, "contribution": 0.25},
        ]
        match.reasons = ["Shared skills: python"]
    s.matches[3].predicted_success = 0.6
    session.commit()
    set_status(session, s.run.id, "e1", "published")
    erasure.erase_participant(session, s.actor, s.program.id, s.mentors[2].id)
    session.commit()
    ordered = sorted(session.execute(select(Match.created_at, Match.id)).all())
    return s, [row.id for row in ordered]


def _orm_views(session: Session, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """What the ORM path gave: :func:`match_views.views` of the loaded matches."""
    session.expunge_all()
    loaded = {m.id: m for m in session.scalars(select(Match).where(Match.id.in_(ids)))}
    return match_views.views(session, [loaded[i] for i in ids])


@contextmanager
def _match_objects() -> Iterator[list[Match]]:
    """The ``Match`` objects the ORM builds inside the block."""
    built: list[Match] = []

    def load(target: Match, _context: Any) -> None:
        built.append(target)

    event.listen(Match, "load", load)
    try:
        yield built
    finally:
        event.remove(Match, "load", load)


def test_a_page_is_two_selects_of_rows_with_the_orm_views(session: Session) -> None:
    s, ids = _scenario(session)
    erased_mentor, actor, program_id = s.mentors[2].id, s.actor, s.program.id
    scope_session(session, actor.organization_id)
    session.expunge_all()
    with sent_statements(session) as sent, _match_objects() as built:
        page = matches.list_matches(session, actor, program_id, limit=50)
    assert [" ".join(q.split()[:2]) for q in sent] == [
        "SELECT matches.id,",
        "SELECT participants.id,",
    ], sent
    if session.get_bind().dialect.name == "postgresql":
        # The people's ids as one array parameter: one SQL text for any page.
        assert "participants.id = ANY (%(ids)s::UUID[])" in sent[1], sent[1]
    assert built == []  # rows, no ORM object per match
    assert page.next_cursor is None
    assert [view["id"] for view in page.items] == ids
    assert page.items == _orm_views(session, ids)
    erased = next(v for v in page.items if v["mentor"]["id"] == erased_mentor)
    assert erased["mentor"] == {
        "id": erased_mentor,
        "external_id": None,
        "name": "Anonymous user",
    }


def test_pages_by_cursor_and_status_give_the_orm_views(session: Session) -> None:
    s, ids = _scenario(session)
    actor, program_id = s.actor, s.program.id
    scope_session(session, actor.organization_id)
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = matches.list_matches(session, actor, program_id, limit=2, cursor=cursor)
        seen += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == 5
    assert seen == _orm_views(session, ids)
    published = matches.list_matches(session, actor, program_id, status="published")
    assert [v["mentee"]["external_id"] for v in published.items] == ["e1"]
    assert published.items == _orm_views(session, [published.items[0]["id"]])


def test_a_match_is_one_select_with_the_orm_view(session: Session) -> None:
    s, ids = _scenario(session)
    actor = s.actor
    scope_session(session, actor.organization_id)
    for match_id in ids:
        session.expunge_all()
        with sent_statements(session) as sent, _match_objects() as built:
            view = matches.get_match(session, actor, match_id)
        assert len(sent) == 1, sent
        assert sent[0].startswith("SELECT matches.id,"), sent
        assert built == []
        assert view == _orm_views(session, [match_id])[0]


def test_the_organization_and_the_live_program_scope_the_rows(session: Session) -> None:
    s, _ = _scenario(session)
    other = proposals(session, make_org(session, "Other"), pairs=1)
    # Without the session's guard (an unscoped session), the statements' own criteria.
    with pytest.raises(NotFound, match=f"match {other.matches[0].id} not found"):
        matches.get_match(session, s.actor, other.matches[0].id)
    with pytest.raises(NotFound, match="program"):
        matches.list_matches(session, s.actor, other.program.id)
    # The guard filters the Core select of mapped columns too: rows of the organization
    # asked for (wrongly) come back empty in a session scoped to another.
    scope_session(session, other.actor.organization_id)
    rows = session.execute(
        match_views.MATCH_VIEW,
        {"organization_id": s.actor.organization_id, "match_id": s.matches[0].id},
    ).all()
    assert rows == []
    scope_session(session, s.actor.organization_id)
    programs.delete_program(session, s.actor, s.program.id)
    session.commit()
    with pytest.raises(NotFound, match=f"match {s.matches[0].id} not found"):
        matches.get_match(session, s.actor, s.matches[0].id)


def _view(breakdown: Any) -> dict[str, Any]:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    person = {"id": uuid.uuid4(), "external_id": "x", "name": "X"}
    return {
        "id": uuid.uuid4(),
        "program_id": uuid.uuid4(),
        "run_id": None,
        "mentee": person,
        "mentor": person,
        "score": 0.5,
        "breakdown": breakdown,
        "reasons": [],
        "predicted_success": None,
        "status": "proposed",
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "edited_by": None,
        "published_by": None,
        "published_at": None,
        "ended_by": None,
        "ended_at": None,
        "ended_reason": None,
    }


ITEM = {"criterion": "skills", "weight": 0.5, "similarity": 1.0, "contribution": 0.5}


@pytest.mark.parametrize(
    "breakdown",
    [
        [],
        [ITEM, {**ITEM, "criterion": "languages"}],
        [dict(reversed(ITEM.items()))],  # as PostgreSQL's JSONB may give it back
        [ITEM, {**ITEM, "weight": 1}],  # an int: marshmallow's float
        [{**ITEM, "extra": "dropped"}],  # a key the schema does not dump
        [{k: v for k, v in ITEM.items() if k != "similarity"}],  # a key missing
        [{**ITEM, "contribution": None}],
        None,
    ],
)
def test_the_breakdown_dumps_as_marshmallow_dumps_it(breakdown: Any) -> None:
    view = _view(breakdown)
    ours = MatchSchema().dump(view)
    assert ours == Schema.dump(MatchSchema(), view)  # marshmallow's own dump
    if breakdown is not None:  # as the nested schema writes each entry, key order too
        nested = Schema.dump(BreakdownItemSchema(many=True), breakdown)
        assert json.dumps(ours["breakdown"]) == json.dumps(nested)
    assert [list(map(type, item.values())) for item in ours["breakdown"] or []] == [
        list(map(type, item.values()))
        for item in Schema.dump(MatchSchema(), view)["breakdown"] or []
    ]  # 1 and 1.0 are equal: the types too


def test_a_run_page_reads_rows_with_the_orm_views(session: Session) -> None:
    s, ids = _scenario(session)
    actor, program_id, run_id = s.actor, s.program.id, s.run.id
    scope_session(session, actor.organization_id)
    session.expunge_all()
    with _match_objects() as built:
        first = matches.list_run_matches(session, actor, program_id, run_id, limit=3)
        rest = matches.list_run_matches(
            session, actor, program_id, run_id, limit=3, cursor=first.next_cursor
        )
    assert built == []
    assert rest.next_cursor is None
    assert first.items + rest.items == _orm_views(session, ids)
    assert first.unmatched_count == rest.unmatched_count == 1
    assert [u["mentee"]["external_id"] for u in first.unmatched] == ["u0"]
    assert rest.unmatched == []

"""Recording an outcome in five statements, with every guarantee of the ORM path kept.

``record_outcome`` reads the match, its live program and the current configuration in
one SELECT and writes with Core (the record, then ``audit.append``). These tests pin
the statements it sends, and that what the ORM used to give still holds: the same
record and view, the same audit event and chain (sealing included), the tenant
guard's answers, and concurrent check-ins of one organization on one chain.
"""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api.services import audit, outcomes
from api.services.context import Actor
from api.services.errors import NotFound
from models import AuditEvent, Organization, Outcome, Program
from models.tenant_guard import TenantScopeError, require_scope, scope_session
from tests.factories import Scenario, make_org, proposals, sent_statements, set_status
from tests.services.races import race

CHECK_IN: dict[str, Any] = {
    "meetings": 3,
    "goals_completed": 1,
    "goals_total": 2,
    "mentor_rating": 4,
}


def _published(session: Session, name: str = "Acme") -> Scenario:
    """An organization whose first proposal (``e0``) is published."""
    scenario = proposals(session, make_org(session, name), pairs=2)
    set_status(session, scenario.run.id, "e0", "published")
    return scenario


def test_a_check_in_is_one_select_and_four_writes(session: Session) -> None:
    s = _published(session)
    scope_session(session, s.actor.organization_id)
    with sent_statements(session) as sent:
        outcomes.record_outcome(session, s.actor, s.matches[0].id, **CHECK_IN)
    kinds = [" ".join(statement.split()[:3]) for statement in sent]
    assert kinds == [
        "SELECT matches.organization_id, matches.program_id,",
        "INSERT INTO outcomes",
        "UPDATE organizations SET",
        "INSERT INTO audit_events",
        "UPDATE organizations SET",
    ], sent


def test_the_record_view_and_audit_event_are_those_of_the_orm_path(session: Session) -> None:
    s = _published(session)
    match = s.matches[0]
    scope_session(session, s.actor.organization_id)
    made = outcomes.record_outcome(
        session, s.actor, match.id, **CHECK_IN, ended_early=True, ended_reason="No show"
    )
    # The view of the row as the ORM reads it back (what GET .../outcomes answers).
    (listed,) = outcomes.list_outcomes(session, s.actor, match.id).items
    assert made["recorded_at"].tzinfo is UTC
    assert listed["recorded_at"].replace(tzinfo=UTC) == made["recorded_at"]
    assert {**listed, "recorded_at": None} == {**made, "recorded_at": None}
    assert made["success"] == pytest.approx(0.6 - 0.25)  # a participant-side early end
    row = session.get_one(Outcome, made["id"])
    assert (row.organization_id, row.match_id, row.recorded_by) == (
        s.actor.organization_id,
        match.id,
        s.actor.admin_id,
    )
    assert (row.messages, row.milestones, row.mentee_rating) == (None, None, None)
    event_ = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "outcome.recorded")
    ).one()
    assert event_.actor_id == s.actor.admin_id
    assert event_.program_id == s.program.id
    assert (event_.target_type, event_.target_ids) == ("match", [str(match.id)])
    assert event_.details == {"outcome_id": str(made["id"])}
    assert event_.scheme == audit.KEYED
    org = session.get_one(Organization, s.actor.organization_id, populate_existing=True)
    assert (org.audit_seq, org.audit_head) == (event_.seq, event_.hash)
    assert audit.verify(session, s.actor.organization_id).valid


def test_a_missing_match_deleted_program_or_configuration_is_404(session: Session) -> None:
    s = _published(session)
    match = s.matches[0]
    with pytest.raises(NotFound, match="match"):
        outcomes.record_outcome(session, s.actor, uuid.uuid4(), meetings=1)
    session.execute(update(Program).values(config_version=7))
    with pytest.raises(NotFound, match="program configuration version 7"):
        outcomes.record_outcome(session, s.actor, match.id, meetings=1)
    session.rollback()
    session.execute(update(Program).values(deleted_at=Program.created_at))
    with pytest.raises(NotFound, match="match"):
        outcomes.record_outcome(session, s.actor, match.id, meetings=1)
    session.rollback()
    assert session.scalars(select(Outcome.id)).all() == []


def test_the_tenant_guard_still_answers(session_factory: sessionmaker[Session]) -> None:
    """A's session with B's actor finds nothing (the guard narrows the SELECT) and the
    audit append refuses to write B's chain; an unscoped request session refuses."""
    with session_factory() as session:
        a, b = _published(session, "Acme"), _published(session, "Globex")
    with session_factory() as session:
        scope_session(session, a.actor.organization_id)
        with pytest.raises(NotFound):
            outcomes.record_outcome(session, b.actor, b.matches[0].id, meetings=1)
        with pytest.raises(TenantScopeError):
            audit.append(session, b.actor, "outcome.recorded")
    with session_factory() as session:
        require_scope(session)
        with pytest.raises(TenantScopeError):
            outcomes.record_outcome(session, a.actor, a.matches[0].id, meetings=1)
    with session_factory() as session:
        assert session.scalars(select(Outcome.id)).all() == []
        assert audit.verify(session, b.actor.organization_id).valid


#: The columns of an event that do not differ between two chains written alike.
ALIKE = (
    "seq",
    "actor_id",
    "action",
    "program_id",
    "target_type",
    "target_ids",
    "details",
    "scheme",
)


def _events(session: Session, organization_id: uuid.UUID) -> list[tuple[Any, ...]]:
    stmt = select(AuditEvent).where(AuditEvent.organization_id == organization_id)
    return [
        tuple(getattr(e, name) for name in ALIKE)
        for e in session.scalars(stmt.order_by(AuditEvent.seq))
    ]


def test_append_writes_the_event_record_writes_and_seals_a_fresh_chain(
    session: Session,
) -> None:
    """Two organizations never sealed (no event yet): one chain by ``record``, one by
    ``append``; the rows match column for column but ids and times, both verify."""
    chains = {}
    for how in (audit.record, audit.append):
        org = Organization(id=uuid.uuid4(), name=how.__name__)
        session.add(org)
        session.flush()
        actor = Actor(org.id, None, "owner")
        for k in range(3):
            how(
                session,
                actor,
                "outcome.recorded",
                program_id=uuid.UUID(int=k),
                target_type="match",
                target_ids=[uuid.UUID(int=k + 1)],
                details={"outcome_id": str(uuid.UUID(int=k + 2)), "n": 1.0},
            )
        session.commit()
        chains[how.__name__] = org.id
    with_record, with_append = (_events(session, chains[n]) for n in ("record", "append"))
    assert with_append == with_record
    assert [e[0] for e in with_append] == [1, 2, 3]
    for org_id in chains.values():
        org = session.get_one(Organization, org_id, populate_existing=True)
        assert (org.audit_keyed_from, org.audit_seal is not None) == (1, True)
        report = audit.verify(session, org_id)
        assert (report.valid, report.events) == (True, 3), report


def test_concurrent_check_ins_of_one_organization_keep_one_chain(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        s = _published(session)
        set_status(session, s.run.id, "e1", "ended")
        actor, ids = s.actor, [m.id for m in s.matches]

    def check_in(k: int) -> Any:
        def job(session: Session) -> Any:
            scope_session(session, actor.organization_id)
            return outcomes.record_outcome(session, actor, ids[k % 2], meetings=k)

        return job

    assert race(session_factory, [check_in(k) for k in range(8)]) == ["ok"] * 8
    with session_factory() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "outcome.recorded")
        ).all()
        recorded = set(session.scalars(select(Outcome.id)))
        assert {uuid.UUID(e.details["outcome_id"]) for e in events} == recorded
        assert len(recorded) == 8
        assert audit.verify(session, actor.organization_id).valid

"""Builders of database rows, and small readers of them, for service and API tests.

Review and publication tests insert rows directly (a program with its config,
participants, a finished run and its proposals) so that they need no matcher; those
builders flush, and :func:`proposals` commits once. Run tests commit what they build
(:func:`add`, ``make_program(..., commit=True)``) because a run reads the cohort in
its own sessions, as a worker does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

import scoring
from api.services.context import Actor
from api.services.organizations import create_organization
from models import (
    Match,
    Outcome,
    Participant,
    Program,
    ProgramConfig,
    Run,
    UnmatchedMentee,
    WeightsVersion,
)

#: Skills weigh; a shared language is required (the rule an edit can break).
CONFIG: dict[str, Any] = {
    "fields": [{"key": "languages", "type": "multi"}],
    "criteria": [
        {"name": "skills", "kind": "skill_overlap", "weight": 2},
        {"name": "shared_language", "kind": "overlap", "field": "languages", "required": True},
    ],
    "default_capacity": 1,
}

#: For run tests: skills alone decide the score (weight 0 elsewhere); a shared language
#: is required.
RUN_CONFIG: dict[str, Any] = {
    "fields": [{"key": "languages", "type": "multi"}],
    "criteria": [
        {"name": "skills", "kind": "skill_overlap", "weight": 1},
        {
            "name": "shared_language",
            "kind": "overlap",
            "field": "languages",
            "required": True,
            "weight": 0,
        },
    ],
    "default_capacity": 1,
}


@dataclass
class Tenant:
    """An organization as the HTTP tests see it: ids and the owner's API key."""

    organization_id: uuid.UUID
    owner_id: uuid.UUID
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_tenant(app: Any, name: str, email: str) -> Tenant:
    """A new organization committed through the app's own session factory."""
    with app.extensions["mentormatch"].session_factory() as s:
        created = create_organization(s, name, email)
        return Tenant(created.admin.organization_id, created.admin.id, created.api_key)


def make_org(session: Session, name: str = "Acme") -> Actor:
    """A new organization; returns its owner as the actor."""
    created = create_organization(session, name, f"owner@{uuid.uuid4().hex[:8]}.example")
    return Actor(created.admin.organization_id, created.admin.id, "owner")


def make_program(
    session: Session, actor: Actor, config: dict[str, Any] | None = None, *, commit: bool = False
) -> Program:
    """A program with ``config`` (default :data:`CONFIG`) as its version 1."""
    program = Program(id=uuid.uuid4(), organization_id=actor.organization_id, name="Cohort")
    session.add(program)
    session.flush()
    session.add(
        ProgramConfig(
            id=uuid.uuid4(),
            organization_id=actor.organization_id,
            program_id=program.id,
            version=1,
            config=scoring.validate_config(config or CONFIG),
            created_by=actor.admin_id,
        )
    )
    session.flush()
    if commit:
        session.commit()
    return program


def make_participant(
    session: Session,
    program: Program,
    role: str,
    external_id: str,
    *,
    languages: Sequence[str] = ("en",),
    skills: Sequence[str] = ("python",),
    capacity: int | None = None,
    active: bool = True,
    exclude: Sequence[str] = (),
) -> Participant:
    person = Participant(
        id=uuid.uuid4(),
        organization_id=program.organization_id,
        program_id=program.id,
        external_id=external_id,
        role=role,
        name=f"Person {external_id}",
        email=f"{external_id}@example.com",
        skills=list(skills),
        capacity=capacity,
        attributes={"languages": list(languages)},
        exclude=list(exclude),
        active=active,
    )
    session.add(person)
    session.flush()
    return person


def add(
    session: Session,
    program: Program,
    role: str,
    external_id: str,
    skills: Sequence[str] = ("python",),
    *,
    capacity: int | None = None,
    languages: Sequence[str] = ("en",),
    active: bool = True,
) -> Participant:
    """A committed participant, skills positional (the run tests' tables of people)."""
    person = make_participant(
        session,
        program,
        role,
        external_id,
        skills=skills,
        capacity=capacity,
        languages=languages,
        active=active,
    )
    session.commit()
    return person


def make_run(
    session: Session,
    actor: Actor,
    program: Program,
    *,
    dry_run: bool = False,
    status: str = "succeeded",
) -> Run:
    run = Run(
        id=uuid.uuid4(),
        organization_id=program.organization_id,
        program_id=program.id,
        status=status,
        dry_run=dry_run,
        triggered_by=actor.admin_id,
        config_version=program.config_version,
    )
    session.add(run)
    session.flush()
    return run


def make_match(
    session: Session,
    run: Run,
    mentee: Participant,
    mentor: Participant,
    *,
    score: float = 0.5,
    status: str = "proposed",
) -> Match:
    match = Match(
        id=uuid.uuid4(),
        organization_id=run.organization_id,
        program_id=run.program_id,
        run_id=run.id,
        mentee_id=mentee.id,
        mentor_id=mentor.id,
        status=status,
        score=score,
        breakdown=[],
        reasons=["seeded by a test"],
    )
    session.add(match)
    session.flush()
    return match


@dataclass
class Scenario:
    actor: Actor
    program: Program
    run: Run
    mentees: list[Participant]
    mentors: list[Participant]
    matches: list[Match]
    unmatched: list[Participant] = field(default_factory=list)


def proposals(
    session: Session,
    actor: Actor | None = None,
    *,
    pairs: int = 3,
    spare_mentors: int = 1,
    capacity: int | None = None,
    dry_run: bool = False,
    unmatched: int = 1,
) -> Scenario:
    """A succeeded run proposing mentee ``e{i}`` -> mentor ``m{i}`` for ``i < pairs``,
    with ``spare_mentors`` more mentors unproposed and ``unmatched`` mentees left out."""
    actor = actor or make_org(session)
    program = make_program(session, actor)
    mentees = [make_participant(session, program, "mentee", f"e{i}") for i in range(pairs)]
    mentors = [
        make_participant(session, program, "mentor", f"m{i}", capacity=capacity)
        for i in range(pairs + spare_mentors)
    ]
    left = [
        make_participant(session, program, "mentee", f"u{i}", languages=["xx"])
        for i in range(unmatched)
    ]
    run = make_run(session, actor, program, dry_run=dry_run)
    matches = [make_match(session, run, e, m) for e, m in zip(mentees, mentors, strict=False)]
    for mentee in left:
        session.add(
            UnmatchedMentee(
                id=uuid.uuid4(),
                organization_id=program.organization_id,
                run_id=run.id,
                mentee_id=mentee.id,
                reason="no_allowed_mentor",
            )
        )
    session.commit()
    return Scenario(actor, program, run, mentees, mentors, matches, left)


#: For learning tests: two weighted criteria, neither required, both varying.
LEARN_CONFIG: dict[str, Any] = {
    "fields": [{"key": "languages", "type": "multi"}],
    "criteria": [
        {"name": "skills", "kind": "skill_overlap", "weight": 1},
        {"name": "languages", "kind": "overlap", "field": "languages", "weight": 1},
    ],
    "default_capacity": 1,
}


def past_outcomes(
    session: Session,
    actor: Actor,
    program: Program,
    similarities: Sequence[Sequence[float]],
    outcomes: Sequence[dict[str, Any]],
    *,
    status: str = "ended",
    prefix: str = "past",
) -> list[Match]:
    """Ended (or ``status``) matches of a past run between inactive people, one per row
    of ``similarities`` (in the program's criterion order, equal weights), each with
    one outcome record; committed."""
    names = [c["name"] for c in scoring.validate_config(LEARN_CONFIG)["criteria"]]
    run = make_run(session, actor, program)
    made = []
    for i, (sims, outcome) in enumerate(zip(similarities, outcomes, strict=True)):
        mentee = make_participant(session, program, "mentee", f"{prefix}e{i}", active=False)
        mentor = make_participant(session, program, "mentor", f"{prefix}m{i}", active=False)
        weight = 1 / len(names)
        breakdown = [
            {
                "criterion": n,
                "weight": weight,
                "similarity": float(v),
                "contribution": weight * float(v),
            }
            for n, v in zip(names, sims, strict=True)
        ]
        match = make_match(
            session, run, mentee, mentor, score=float(sum(sims)) * weight, status=status
        )
        match.breakdown = breakdown
        session.add(
            Outcome(
                id=uuid.uuid4(),
                organization_id=program.organization_id,
                match_id=match.id,
                recorded_by=actor.admin_id,
                **outcome,
            )
        )
        made.append(match)
    session.commit()
    return made


def with_outcome_and_prior(session: Session, scenario: Scenario) -> Scenario:
    """``scenario`` plus an outcome of its first match and a prior weights version
    (uncommitted): a row in every program-keyed table."""
    org, pid = scenario.program.organization_id, scenario.program.id
    session.add(
        Outcome(id=uuid.uuid4(), organization_id=org, match_id=scenario.matches[0].id, meetings=3)
    )
    session.add(
        WeightsVersion(
            id=uuid.uuid4(),
            organization_id=org,
            program_id=pid,
            version=1,
            weights={"skills": 1.0},
            source="prior",
            active=True,
        )
    )
    return scenario


# ----------------------------------------------------------------- readers


def pairs(session: Session, run_id: uuid.UUID) -> dict[str, str]:
    """mentee external_id -> mentor external_id of the run's proposals."""
    mentee = select(Participant.external_id).where(Participant.id == Match.mentee_id)
    mentor = select(Participant.external_id).where(Participant.id == Match.mentor_id)
    rows = session.execute(
        select(mentee.scalar_subquery(), mentor.scalar_subquery()).where(Match.run_id == run_id)
    ).all()
    return dict(rows)  # type: ignore[arg-type]


def set_status(session: Session, run_id: uuid.UUID, mentee_ext: str, status: str) -> None:
    """Give the run's proposal of ``mentee_ext`` another status (as publish/end/reject do)."""
    match = session.scalars(
        select(Match)
        .join(Participant, Participant.id == Match.mentee_id)
        .where(Match.run_id == run_id, Participant.external_id == mentee_ext)
    ).one()
    match.status = status
    session.commit()


def reload(session: Session, run_id: uuid.UUID) -> Run:
    """The run as the database has it now."""
    session.expire_all()
    run = session.get(Run, run_id)
    assert run is not None
    return run


def if_match(client: Any, url: str, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with ``If-Match`` set to the resource's current ETag (read by a GET)."""
    current = client.get(url, headers=headers)
    assert current.status_code == 200, current.get_data()[:300]
    return {**headers, "If-Match": current.headers["ETag"]}


@contextmanager
def sent_statements(session: Session) -> Iterator[list[str]]:
    """The SQL the session's engine sends inside the block, whitespace folded, without
    what starts the transaction (SQLite's ``BEGIN``, PostgreSQL's tenant setting
    ``set_config``)."""
    sent: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "set_config" not in statement and not statement.startswith("BEGIN"):
            sent.append(" ".join(statement.split()))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", before)

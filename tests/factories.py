"""Small builders of database rows for service and API tests.

They insert rows directly (a program with its config, participants, a finished run
and its proposals) so that review and publication can be tested without running
the matcher. Each builder flushes; :func:`proposals` commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

import scoring
from api.services.context import Actor
from api.services.organizations import create_organization
from models import Match, Participant, Program, ProgramConfig, Run, UnmatchedMentee

#: Skills weigh; a shared language is required (the rule an edit can break).
CONFIG: dict[str, Any] = {
    "fields": [{"key": "languages", "type": "multi"}],
    "criteria": [
        {"name": "skills", "kind": "skill_overlap", "weight": 2},
        {"name": "shared_language", "kind": "overlap", "field": "languages", "required": True},
    ],
    "default_capacity": 1,
}


def make_org(session: Session, name: str = "Acme") -> Actor:
    """A new organization; returns its owner as the actor."""
    created = create_organization(session, name, f"owner@{uuid.uuid4().hex[:8]}.example")
    return Actor(created.admin.organization_id, created.admin.id, "owner")


def make_program(session: Session, actor: Actor, config: dict[str, Any] | None = None) -> Program:
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

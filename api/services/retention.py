"""Retention: what an organization deleted is purged once the retention period is over.

Deleting hides at once (``programs.deleted_at``, ``organizations.deleted_at``);
:func:`purge_due` deletes for good what was deleted more than ``retention_days`` ago
(``MENTORMATCH_RETENTION_DAYS``, default 30). ``mentormatch purge`` calls it, and the
worker once a day (:func:`daily_task`).

- **A program**: every row keyed to it goes, dependents first (:func:`program_rows`:
  outcomes, unmatched mentees, matches, runs, weights versions, participants, config
  versions, the program). Its audit events stay: they hold ids, never personal data,
  and ``audit_events.program_id`` has no foreign key to cascade. One event is appended,
  ``program.purged`` by the system, with the program's id and the rows deleted per
  table, so the organization's hash chain goes on and still verifies.
- **An organization** (offboarding, "the customer requests deletion"): every row of
  every table that carries its ``organization_id`` goes, its audit chain included,
  then the organization row. Nothing of it stays in the database; what remains is
  the purge report and one log line with the organization's id and the counts.
  PostgreSQL's append-only trigger lets this delete through only for an organization
  marked deleted and named in ``mentormatch.purge_organization`` (migration 0006).

Each program and each organization is purged in a transaction of its own (the one
exception to a use case committing once): a long backlog holds no lock for long, and
one that fails leaves those before it purged. A dry run counts the same rows and
writes nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Table, delete, func, select, text
from sqlalchemy.orm import Session

from api.services import audit
from api.services.context import Actor
from api.services.runs.queue import DailyTask
from models import (
    Base,
    Match,
    Organization,
    Outcome,
    Participant,
    Program,
    ProgramConfig,
    Run,
    UnmatchedMentee,
    WeightsVersion,
)
from models.tenant_guard import unguarded

log = logging.getLogger("mentormatch.retention")

#: The name of the worker's daily purge (a Huey periodic task).
DAILY_TASK = "purge_deleted_data"


@dataclass(frozen=True)
class Purged:
    """One program or organization purged (or due, in a dry run): ids and counts only."""

    kind: str  # "program" | "organization"
    id: uuid.UUID
    organization_id: uuid.UUID
    deleted_at: datetime
    rows: dict[str, int]  # table -> rows deleted (in a dry run: rows that would be)


@dataclass(frozen=True)
class PurgeReport:
    now: datetime
    cutoff: datetime  # deleted at or before this is due
    dry_run: bool
    purged: list[Purged] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        """Rows per table over everything purged."""
        counts: Counter[str] = Counter()
        for item in self.purged:
            counts.update(item.rows)
        return dict(sorted(counts.items()))


def program_rows(program_id: uuid.UUID) -> list[tuple[Table, ColumnElement[bool]]]:
    """Every table holding rows of the program, dependents first, with what selects them."""
    matches = select(Match.id).where(Match.program_id == program_id)
    runs = select(Run.id).where(Run.program_id == program_id)
    plan: list[tuple[Any, ColumnElement[bool]]] = [
        (Outcome, Outcome.match_id.in_(matches)),
        (UnmatchedMentee, UnmatchedMentee.run_id.in_(runs)),
        (Match, Match.program_id == program_id),
        (Run, Run.program_id == program_id),
        (WeightsVersion, WeightsVersion.program_id == program_id),
        (Participant, Participant.program_id == program_id),
        (ProgramConfig, ProgramConfig.program_id == program_id),
        (Program, Program.id == program_id),
    ]
    return [(model.__table__, where) for model, where in plan]


def organization_rows(organization_id: uuid.UUID) -> list[tuple[Table, ColumnElement[bool]]]:
    """Every table of the schema, dependents first, each by its ``organization_id``.

    Read from the models' metadata, so a table added later is purged without a change
    here (every table but ``organizations`` carries ``organization_id``: the tenancy
    rule the isolation test checks too).
    """
    plan: list[tuple[Table, ColumnElement[bool]]] = []
    for table in reversed(Base.metadata.sorted_tables):
        if table.name != Organization.__tablename__:
            plan.append((table, table.c.organization_id == organization_id))
    plan.append((cast(Table, Organization.__table__), Organization.id == organization_id))
    return plan


def _apply(
    session: Session, plan: list[tuple[Table, ColumnElement[bool]]], *, dry_run: bool
) -> dict[str, int]:
    rows: dict[str, int] = {}
    for table, where in plan:
        if dry_run:
            count = session.scalar(select(func.count()).select_from(table).where(where))
            rows[table.name] = count or 0
        else:
            result = session.execute(delete(table).where(where))
            rows[table.name] = cast(CursorResult[Any], result).rowcount
    return rows


def _purge_program(session: Session, program: Program, *, dry_run: bool) -> Purged:
    pid, org = program.id, program.organization_id
    rows = _apply(session, program_rows(pid), dry_run=dry_run)
    if not dry_run:
        audit.record(
            session,
            Actor(org, None, "owner"),
            "program.purged",
            program_id=pid,
            target_type="program",
            target_ids=[pid],
            details={"rows": rows},
        )
        session.commit()
        log.info("program %s of organization %s purged: rows %s", pid, org, rows)
    return Purged("program", pid, org, program.deleted_at or program.created_at, rows)


def _purge_organization(session: Session, org: Organization, *, dry_run: bool) -> Purged:
    oid = org.id
    deleted_at = org.deleted_at or org.created_at
    if not dry_run and session.get_bind().dialect.name == "postgresql":
        # The one DELETE the audit table's trigger lets through (migration 0006).
        session.execute(
            text("SELECT set_config('mentormatch.purge_organization', :org, true)"),
            {"org": str(oid)},
        )
    rows = _apply(session, organization_rows(oid), dry_run=dry_run)
    if not dry_run:
        session.commit()
        # The last trace of the organization: its id and the counts, nothing else.
        log.info("organization %s purged: rows %s", oid, rows)
    return Purged("organization", oid, oid, deleted_at, rows)


def purge_due(
    session: Session, *, now: datetime, retention_days: int, dry_run: bool = False
) -> PurgeReport:
    """Purge every program and organization deleted at or before ``now - retention_days``.

    ``now`` is the clock (tests move it). Programs of an organization that is due go
    with their organization. In a dry run the report counts the rows each would lose
    and nothing is written.
    """
    with unguarded(session):  # maintenance across organizations
        return _purge_due(session, now=now, retention_days=retention_days, dry_run=dry_run)


def _purge_due(
    session: Session, *, now: datetime, retention_days: int, dry_run: bool
) -> PurgeReport:
    cutoff = now - timedelta(days=retention_days)
    report = PurgeReport(now, cutoff, dry_run)
    due_orgs = list(
        session.scalars(
            select(Organization)
            .where(Organization.deleted_at <= cutoff)
            .order_by(Organization.deleted_at, Organization.id)
        )
    )
    due_programs = list(
        session.scalars(
            select(Program)
            .where(
                Program.deleted_at <= cutoff,
                Program.organization_id.not_in([o.id for o in due_orgs]),
            )
            .order_by(Program.deleted_at, Program.id)
        )
    )
    for program in due_programs:
        report.purged.append(_purge_program(session, program, dry_run=dry_run))
    for org in due_orgs:
        report.purged.append(_purge_organization(session, org, dry_run=dry_run))
    if dry_run:
        session.rollback()
    return report


def purge_now(session_factory: Callable[[], Session], *, retention_days: int) -> PurgeReport:
    """What the worker runs daily: purge what is due by the wall clock."""
    with session_factory() as session:
        report = purge_due(session, now=datetime.now(UTC), retention_days=retention_days)
    log.info(
        "purge done: %d programs, %d organizations",
        sum(p.kind == "program" for p in report.purged),
        sum(p.kind == "organization" for p in report.purged),
    )
    return report


def daily_task(retention_days: int) -> DailyTask:
    """The worker's daily purge, for :func:`api.services.runs.queue.build_jobs`."""

    def run(session_factory: Callable[[], Session]) -> object:
        return purge_now(session_factory, retention_days=retention_days)

    return DailyTask(DAILY_TASK, run)

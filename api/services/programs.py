"""Programs and their versioned matching configuration.

Every configuration saved is validated completely by :func:`scoring.validate_config`
and stored normalized as a new immutable :class:`ProgramConfig` version; runs record
the version they used. Saving an unchanged configuration creates no version.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

import scoring
from api.services import audit, program_fit
from api.services.context import Actor
from api.services.errors import NotFound, ValidationFailed
from api.services.lookup import config_of, get_program, lock_program
from api.services.pagination import Page, paginate
from api.services.text import control_char_problem, control_char_problems
from models import Program, ProgramConfig
from models.prepared import PreparedSelect


@dataclass(frozen=True)
class ProgramView:
    """A program with its current configuration, as the API shows it."""

    id: uuid.UUID
    name: str
    description: str | None
    config: dict[str, Any]
    config_version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of_row(cls, row: Any) -> ProgramView:
        """The view of a row of :data:`_VIEW_COLUMNS` (selected by name, not position):
        a SQLAlchemy row or a :class:`~models.prepared.PreparedSelect` one."""
        return cls(**row._asdict())

    @classmethod
    def of(cls, program: Program, config: dict[str, Any]) -> ProgramView:
        return cls(
            program.id,
            program.name,
            program.description,
            config,
            program.config_version,
            program.created_at,
            program.updated_at,
        )


def validated_config(config: object) -> dict[str, Any]:
    """The normalized config, or ValidationFailed naming every bad path under ``config.``.

    Its strings may not hold control characters (:mod:`api.services.text`): it is stored
    as JSON, which PostgreSQL refuses with a NUL in it.
    """
    errors: dict[str, list[str]] = {}
    for path, message in control_char_problems(config, "config"):
        errors.setdefault(path, []).append(message)
    try:
        normalized = scoring.validate_config(config)
    except scoring.ConfigError as exc:
        for path, msgs in exc.errors.items():
            errors.setdefault(f"config.{path}" if path else "config", []).extend(msgs)
    if errors:
        raise ValidationFailed(errors)
    return normalized


def _clean_name(name: str) -> str:
    if (problem := control_char_problem(name)) is not None:
        raise ValidationFailed({"name": [problem]})
    name = name.strip()
    if not name:
        raise ValidationFailed({"name": ["must not be empty"]})
    return name


def _clean_description(description: str | None) -> str | None:
    if description is not None and (problem := control_char_problem(description)) is not None:
        raise ValidationFailed({"description": [problem]})
    return description


def _add_version(
    session: Session, actor: Actor, program: Program, version: int, config: dict[str, Any]
) -> None:
    session.add(
        ProgramConfig(
            id=uuid.uuid4(),
            organization_id=actor.organization_id,
            program_id=program.id,
            version=version,
            config=config,
            created_by=actor.admin_id,
        )
    )
    program.config_version = version


def create_program(
    session: Session,
    actor: Actor,
    *,
    name: str,
    config: dict[str, Any],
    description: str | None = None,
) -> ProgramView:
    """Create a program with configuration version 1."""
    name, description = _clean_name(name), _clean_description(description)
    normalized = validated_config(config)
    program = Program(
        id=uuid.uuid4(), organization_id=actor.organization_id, name=name, description=description
    )
    session.add(program)
    session.flush()  # the program row first: its configuration references it
    _add_version(session, actor, program, 1, normalized)
    audit.record(
        session,
        actor,
        "program.created",
        program_id=program.id,
        target_type="program",
        target_ids=[program.id],
        details={"config_version": 1},
    )
    session.commit()
    return ProgramView.of(program, normalized)


#: A program's view columns with its current configuration, as Core selects them:
#: the reads build no ORM object (loading one was most of a program GET's own CPU).
_VIEW_COLUMNS = (
    Program.id,
    Program.name,
    Program.description,
    ProgramConfig.config,
    Program.config_version,
    Program.created_at,
    Program.updated_at,
)

#: The organization's live programs with their current configuration, built once (a
#: statement costs about as much to build as to run from the cache). The organization
#: is named here and again by the tenant guard, which covers Core selects of ORM columns
#: too (``tests/services/test_reads_fast.py`` checks both).
_LIVE_VIEWS = (
    select(*_VIEW_COLUMNS)
    .join(
        ProgramConfig,
        and_(
            ProgramConfig.program_id == Program.id,
            ProgramConfig.version == Program.config_version,
        ),
    )
    .where(Program.organization_id == bindparam("organization_id"), Program.deleted_at.is_(None))
)
_LIVE_VIEW = PreparedSelect(_LIVE_VIEWS.where(Program.id == bindparam("program_id")))


def get(session: Session, actor: Actor, program_id: uuid.UUID) -> ProgramView:
    """A live program with its current configuration, in one statement."""
    row = _LIVE_VIEW.one_or_none(
        session, {"organization_id": actor.organization_id, "program_id": program_id}
    )
    if row is None:
        raise NotFound("program", program_id)
    return ProgramView.of_row(row)


def list_programs(
    session: Session, actor: Actor, *, limit: int, cursor: str | None = None
) -> Page[ProgramView]:
    """The organization's live programs, oldest first, with their current configuration
    (one statement)."""
    page = paginate(
        session,
        _LIVE_VIEWS,
        Program.created_at,
        Program.id,
        limit=limit,
        cursor=cursor,
        params={"organization_id": actor.organization_id},
    )
    return Page([ProgramView.of_row(row) for row in page.items], page.next_cursor)


_UNSET: Any = object()


def update_program(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    *,
    name: str = _UNSET,
    description: str | None = _UNSET,
    config: dict[str, Any] = _UNSET,
    on_conflict: str = "refuse",
) -> ProgramView:
    """Change name, description and/or configuration; a changed config is a new version.

    The new configuration is checked against the stored participants
    (:mod:`api.services.program_fit`: refuse, or ``on_conflict="clear"``).
    """
    get_program(session, actor, program_id)
    # The program's row lock: concurrent changes of one program happen one at a time,
    # so the next config version is never taken twice (uq program_id, version).
    program = lock_program(session, program_id)
    current = config_of(session, program)
    changed: list[str] = []
    if name is not _UNSET and (name := _clean_name(name)) != program.name:
        program.name = name
        changed.append("name")
    if description is not _UNSET and (
        (description := _clean_description(description)) != program.description
    ):
        program.description = description
        changed.append("description")
    if config is not _UNSET and (normalized := validated_config(config)) != current:
        refitted = program_fit.refit(session, program, normalized, on_conflict=on_conflict)
        version = program.config_version + 1
        _add_version(session, actor, program, version, normalized)
        current = normalized
        audit.record(
            session,
            actor,
            "config.changed",
            program_id=program.id,
            target_type="program",
            target_ids=[program.id],
            details={
                "version": version,
                "previous_version": version - 1,
                **{k: n for k, n in refitted.items() if n},  # people whose values went
            },
        )
    if changed:
        audit.record(
            session,
            actor,
            "program.updated",
            program_id=program.id,
            target_type="program",
            target_ids=[program.id],
            details={"fields": changed},
        )
    session.commit()
    return ProgramView.of(program, current)


def delete_program(session: Session, actor: Actor, program_id: uuid.UUID) -> None:
    """Soft delete: the program answers 404 at once and is purged after the retention period."""
    program = get_program(session, actor, program_id)
    program.deleted_at = datetime.now(UTC)
    audit.record(
        session,
        actor,
        "program.deleted",
        program_id=program.id,
        target_type="program",
        target_ids=[program.id],
    )
    session.commit()

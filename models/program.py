"""Mentoring programs, their versioned matching configuration, and participants."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, OrganizationOwned, created_at, sql_in, utcnow, uuid_pk
from models.vocabulary import Role


class Program(OrganizationOwned, Base):
    __tablename__ = "programs"

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    # The version number of the newest ProgramConfig row: the one new runs use.
    config_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Soft delete: the program disappears at once and is purged after the retention period.
    deleted_at: Mapped[datetime | None] = mapped_column(index=True)

    configs: Mapped[list[ProgramConfig]] = relationship(
        back_populates="program", order_by="ProgramConfig.version", passive_deletes=True
    )


class ProgramConfig(OrganizationOwned, Base):
    """One immutable version of a program's matching configuration."""

    __tablename__ = "program_configs"
    __table_args__ = (UniqueConstraint("program_id", "version"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    version: Mapped[int]
    config: Mapped[dict[str, Any]]
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("admins.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at()

    program: Mapped[Program] = relationship(back_populates="configs")


class Participant(OrganizationOwned, Base):
    """A mentor or mentee of one program.

    Erasure anonymizes in place: ``name`` becomes "Anonymous user" and every identifying
    field is cleared, so matches and outcomes stay but point at nobody.
    """

    __tablename__ = "participants"
    __table_args__ = (
        UniqueConstraint("program_id", "external_id"),
        Index("ix_participants_program_role", "program_id", "role", "active"),
        # Pages in their keyset order, (created_at, id) (migration 0013).
        Index("ix_participants_program_created", "program_id", "created_at", "id"),
        CheckConstraint("published_load >= 0", name="published_load_nonnegative"),
        CheckConstraint(sql_in("role", Role), name="role"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(8))  # a Role
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    position: Mapped[str | None] = mapped_column(String(200))
    level: Mapped[int | None]
    skills: Mapped[list[Any]] = mapped_column(default=list)
    # How many partners: a mentor's mentees, a mentee's mentors (None: the config's
    # default_capacity or default_mentee_capacity).
    capacity: Mapped[int | None]
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    exclude: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    erased_at: Mapped[datetime | None]
    # Published matches this mentor or mentee holds (mentees' since migration 0011).
    # Publishing bumps both sides with a conditional UPDATE (``published_load + n <=
    # capacity``), so the database refuses over-capacity even when two admins publish
    # at once; ending a match releases both.
    published_load: Mapped[int] = mapped_column(default=0, server_default=text("0"))

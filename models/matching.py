"""Matching runs, the matches they propose, realized outcomes and weights versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, OrganizationOwned, created_at, sql_in, utcnow, uuid_pk
from models.vocabulary import (
    RUN_ACTIVE_STATUSES,
    MatchStatus,
    Objective,
    RunStatus,
    Scope,
    WeightsSource,
)


class Run(OrganizationOwned, Base):
    __tablename__ = "runs"
    __table_args__ = (
        # One active run per program, enforced by the database: a partial unique index.
        Index(
            "uq_runs_one_active_per_program",
            "program_id",
            unique=True,
            sqlite_where=text(sql_in("status", RUN_ACTIVE_STATUSES)),
            postgresql_where=text(sql_in("status", RUN_ACTIVE_STATUSES)),
        ),
        Index("ix_runs_program_created", "program_id", "created_at"),
        # The closed vocabularies, kept by the database too (migration 0002).
        CheckConstraint(sql_in("status", RunStatus), name="status"),
        CheckConstraint(sql_in("scope", Scope), name="scope"),
        CheckConstraint(sql_in("objective", Objective), name="objective"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED)
    scope: Mapped[str] = mapped_column(String(16), default=Scope.ALL)
    objective: Mapped[str] = mapped_column(String(16), default=Objective.TOTAL)
    dry_run: Mapped[bool] = mapped_column(default=False)
    # Pins, config overrides of a dry run, and other options as given.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    triggered_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("admins.id", ondelete="SET NULL")
    )
    config_version: Mapped[int]
    weights_version: Mapped[int | None]
    progress: Mapped[float] = mapped_column(default=0.0)
    # The phase the worker is in ("queued", "loading", "scoring"...; migration 0010).
    phase: Mapped[str | None] = mapped_column(String(32))
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = created_at()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # A worker renews the lease while it runs; an expired lease means the worker died.
    lease_expires_at: Mapped[datetime | None]


class Match(OrganizationOwned, Base):
    """A mentor-mentee pair: proposed -> published -> ended, or rejected."""

    __tablename__ = "matches"
    __table_args__ = (
        # Pages in their keyset order, (created_at, id) (migration 0013).
        Index("ix_matches_run_created", "run_id", "created_at", "id"),
        Index("ix_matches_program_created", "program_id", "created_at", "id"),
        Index("ix_matches_program_status", "program_id", "status"),
        Index("ix_matches_mentor_status", "mentor_id", "status"),
        # A pair is published at most once, whoever publishes concurrently (migration
        # 0011); how many each side holds is Participant.published_load's.
        Index(
            "uq_matches_one_published_per_pair",
            "mentee_id",
            "mentor_id",
            unique=True,
            sqlite_where=text(f"status = '{MatchStatus.PUBLISHED}'"),
            postgresql_where=text(f"status = '{MatchStatus.PUBLISHED}'"),
        ),
        CheckConstraint(sql_in("status", MatchStatus), name="status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    mentee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    mentor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=MatchStatus.PROPOSED)
    score: Mapped[float]
    breakdown: Mapped[list[Any]] = mapped_column(default=list)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    # Calibrated from the program's past outcomes when the run had enough (migration 0003).
    predicted_success: Mapped[float | None]
    # Optimistic concurrency: every state change bumps it (SQLAlchemy version_id_col).
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    edited_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("admins.id", ondelete="SET NULL")
    )
    published_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("admins.id", ondelete="SET NULL")
    )
    published_at: Mapped[datetime | None]
    ended_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("admins.id", ondelete="SET NULL"))
    ended_at: Mapped[datetime | None]
    ended_reason: Mapped[str | None] = mapped_column(String(500))

    __mapper_args__ = {"version_id_col": version}


class UnmatchedMentee(OrganizationOwned, Base):
    """A mentee a run left without a mentor, and why."""

    __tablename__ = "unmatched_mentees"
    __table_args__ = (UniqueConstraint("run_id", "mentee_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    mentee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(32))


class Outcome(OrganizationOwned, Base):
    """Realized engagement of a match: counts and ratings, never message content."""

    __tablename__ = "outcomes"

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    match_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("matches.id", ondelete="CASCADE"), index=True
    )
    meetings: Mapped[int | None]
    messages: Mapped[int | None]
    goals_completed: Mapped[int | None]
    goals_total: Mapped[int | None]
    milestones: Mapped[int | None]
    mentor_rating: Mapped[int | None]
    mentee_rating: Mapped[int | None]
    ended_early: Mapped[bool | None]
    ended_reason: Mapped[str | None] = mapped_column(String(500))
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("admins.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime] = created_at()


class WeightsVersion(OrganizationOwned, Base):
    """Criterion weights of a program: the admin's prior or learned from outcomes."""

    __tablename__ = "weights_versions"
    __table_args__ = (
        UniqueConstraint("program_id", "version"),
        CheckConstraint(sql_in("source", WeightsSource), name="source"),
        # One active weights version per program, whoever activates concurrently: a
        # partial unique index (migration 0003).
        Index(
            "uq_weights_versions_one_active_per_program",
            "program_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    version: Mapped[int]
    weights: Mapped[dict[str, Any]]
    source: Mapped[str] = mapped_column(String(16))  # a WeightsSource
    active: Mapped[bool] = mapped_column(default=False)
    evaluation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    samples: Mapped[int] = mapped_column(default=0)
    # Plain words for how the weights differ from the admin's (learned versions only).
    summary: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("admins.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at()

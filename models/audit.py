"""The append-only audit log, hash-chained per organization."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, OrganizationOwned, created_at, uuid_pk


class AuditEvent(OrganizationOwned, Base):
    """One admin action. Holds ids only, never names or emails.

    ``hash`` is an HMAC-SHA-256, keyed with the service's audit key, over the previous
    event's hash and this event's canonical content (plain SHA-256 for rows of scheme
    1), so an edited, deleted or reordered row breaks the chain.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("organization_id", "seq"),
        Index("ix_audit_events_org_created", "organization_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    seq: Mapped[int]
    actor_id: Mapped[uuid.UUID | None]  # the admin; None for the system (CLI, retention)
    action: Mapped[str] = mapped_column(String(64))
    program_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_ids: Mapped[list[Any]] = mapped_column(default=list)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at()
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # How ``hash`` was computed (migration 0007): 1 = plain SHA-256 (the rows written
    # before), 2 = HMAC-SHA-256 with the service's audit key. Versioned per row so the
    # old rows still verify; a chain never goes back from 2 to 1.
    scheme: Mapped[int] = mapped_column(server_default=text("1"))

"""Organization exports too large to answer at once: built by a job, downloaded once."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, OrganizationOwned, created_at, sql_in, uuid_pk
from models.vocabulary import ExportFormat, ExportStatus


class Export(OrganizationOwned, Base):
    """One export job and, once ready, its file.

    The file holds the organization's personal data: it is deleted when downloaded,
    when it expires (``expires_at``), and when a participant is erased before it was
    downloaded (it would still name them).
    """

    __tablename__ = "exports"
    __table_args__ = (
        CheckConstraint(sql_in("status", ExportStatus), name="status"),
        CheckConstraint(sql_in("format", ExportFormat), name="format"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("admins.id", ondelete="SET NULL")
    )
    format: Mapped[str] = mapped_column(String(8))  # an ExportFormat
    status: Mapped[str] = mapped_column(String(16), default=ExportStatus.QUEUED)
    rows: Mapped[int] = mapped_column(default=0)  # counted when requested
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime] = mapped_column(index=True)

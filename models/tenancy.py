"""The tenant (Organization), its program managers (Admin) and their API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, OrganizationOwned, created_at, uuid_pk


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at()
    # Head of the audit hash chain: the sequence number and hash of the newest event.
    # Bumping them with one UPDATE serializes concurrent writers on this row.
    audit_seq: Mapped[int] = mapped_column(default=0)
    audit_head: Mapped[str] = mapped_column(String(64), default="0" * 64)
    # The keyed chain starts at ``audit_keyed_from`` (events before it are of the plain
    # scheme, written before migration 0007); ``audit_seal`` is the HMAC of that
    # boundary with the audit key, so nobody without the key can move it.
    audit_keyed_from: Mapped[int | None]
    audit_seal: Mapped[str | None] = mapped_column(String(64))
    # Offboarding: the owner deleted the organization. Its keys stopped working then;
    # everything of it is purged once this is older than the retention period.
    deleted_at: Mapped[datetime | None] = mapped_column(index=True)


class Admin(OrganizationOwned, Base):
    __tablename__ = "admins"
    __table_args__ = (
        # One live admin per email; a revoked admin's email may be added again (a new
        # admin, the old one stays in the history). Migration 0005.
        Index(
            "uq_admins_live_email",
            "organization_id",
            "email",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    # None once erased on request: the row stays so the audit log still names the id.
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))  # "owner" | "admin"
    created_at: Mapped[datetime] = created_at()
    revoked_at: Mapped[datetime | None]  # removed from the organization
    erased_at: Mapped[datetime | None]

    keys: Mapped[list[ApiKey]] = relationship(back_populates="admin")


class ApiKey(OrganizationOwned, Base):
    """An admin's API key. The secret is stored only as a SHA-256 hash.

    A key reads ``mm_<key id hex>_<secret>``: the id is looked up, the secret's hash
    compared in constant time. Secrets are 256 random bits, so a plain hash suffices
    (no slow KDF needed against guessing).
    """

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    admin_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    admin: Mapped[Admin] = relationship(back_populates="keys")

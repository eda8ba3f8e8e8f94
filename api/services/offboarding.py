"""Leaving: an organization deletes itself; a removed admin's email is erased.

- :func:`delete_organization` (``DELETE /v1/organization``, owners only, with the
  organization's name as confirmation): in one transaction the organization is marked
  deleted, every API key of it is revoked (they answer 401 from the next request on;
  authentication also refuses any key of a deleted organization), and
  ``organization.deleted`` is audited. Its data is purged with everything else after
  the retention period (:mod:`api.services.retention`), its audit chain included.
- :func:`remove_admin` (``DELETE /v1/admins/{id}``, ``?erase=true``): the admin is
  revoked as before (:func:`api.services.organizations.revoke_admin`); with ``erase``
  their email is then set to NULL and ``erased_at`` recorded. The row stays, so every
  audit event, run and match that names the admin's id still names someone the admin
  list shows (removed, without an email); ``admin.erased`` is audited with the id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from api.services import audit
from api.services.context import Actor
from api.services.errors import Forbidden, NotFound, ValidationFailed
from api.services.organizations import revoke_admin
from models import Admin, ApiKey, Organization


@dataclass(frozen=True)
class DeletedOrganization:
    id: uuid.UUID
    deleted_at: datetime
    purge_after: datetime  # the first purge after this deletes everything


def delete_organization(
    session: Session, actor: Actor, *, confirm: str, retention_days: int
) -> DeletedOrganization:
    """Delete the actor's organization: keys revoked now, data purged after retention."""
    if not actor.is_owner:
        raise Forbidden("only an owner can delete the organization")
    org = session.scalars(
        select(Organization).where(Organization.id == actor.organization_id).with_for_update()
    ).one()
    if confirm.strip() != org.name:
        raise ValidationFailed(
            {"confirm": ["must be the organization's name, exactly as it was created"]}
        )
    now = datetime.now(UTC)
    org.deleted_at = now
    revoked = session.execute(
        update(ApiKey)
        .where(ApiKey.organization_id == org.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    audit.record(
        session,
        actor,
        "organization.deleted",
        target_type="organization",
        target_ids=[org.id],
        details={
            "keys_revoked": cast(CursorResult[Any], revoked).rowcount,
            "retention_days": retention_days,
        },
    )
    session.commit()
    return DeletedOrganization(org.id, now, now + timedelta(days=retention_days))


def remove_admin(
    session: Session, actor: Actor, admin_id: uuid.UUID, *, erase: bool = False
) -> Admin:
    """Revoke the admin (owner only); with ``erase``, erase their email too (idempotent).

    The revocation commits first: the keys stop even if the erasure then fails, and
    asking again finishes it.
    """
    admin = revoke_admin(session, actor, admin_id)
    if erase and admin.erased_at is None:
        locked = session.scalars(
            select(Admin)
            .where(Admin.id == admin.id, Admin.organization_id == actor.organization_id)
            .with_for_update()
        ).one_or_none()
        if locked is None:
            raise NotFound("admin", admin_id)
        if locked.erased_at is None:
            locked.email = None
            locked.erased_at = datetime.now(UTC)
            audit.record(
                session, actor, "admin.erased", target_type="admin", target_ids=[locked.id]
            )
        session.commit()
        admin = locked
    return admin

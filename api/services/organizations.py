"""Organizations (tenants) and their admins."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.services import audit
from api.services.context import Actor
from api.services.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from api.services.keys import issue_key, revoke_key, revoke_keys
from models import Admin, Organization

ROLES = ("owner", "admin")


@dataclass(frozen=True)
class NewAdmin:
    admin: Admin
    api_key: str


def _normalize_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise ValidationFailed({"email": [f"not an email address: {email!r}"]})
    return email


def create_organization(session: Session, name: str, owner_email: str) -> NewAdmin:
    """Create a tenant with its owner admin and the owner's first API key."""
    name = name.strip()
    if not name:
        raise ValidationFailed({"name": ["must not be empty"]})
    email = _normalize_email(owner_email)
    org = Organization(id=uuid.uuid4(), name=name)
    session.add(org)
    session.flush()  # the organization row first: admins reference it
    owner = Admin(id=uuid.uuid4(), organization_id=org.id, email=email, role="owner")
    session.add(owner)
    session.flush()
    key = issue_key(session, owner)
    system = Actor(org.id, None, "owner")
    audit.record(
        session, system, "organization.created", target_type="organization", target_ids=[org.id]
    )
    audit.record(
        session,
        system,
        "admin.created",
        target_type="admin",
        target_ids=[owner.id],
        details={"role": "owner"},
    )
    audit.record(session, system, "key.created", target_type="admin", target_ids=[owner.id])
    session.commit()
    return NewAdmin(owner, key)


def find_organization_by_name(session: Session, name: str) -> Organization | None:
    return session.scalars(select(Organization).where(Organization.name == name)).first()


def _require_owner(actor: Actor) -> None:
    if not actor.is_owner:
        raise Forbidden("only an owner can manage admins")


def create_admin(session: Session, actor: Actor, email: str, role: str = "admin") -> NewAdmin:
    _require_owner(actor)
    return _add_admin(session, actor, email, role)


def restore_owner(
    session: Session, organization_id: uuid.UUID, email: str, *, role: str = "owner"
) -> NewAdmin:
    """A new admin (an owner by default) from the command line, no API key needed: the
    way back for an organization that has lost its owners. Audited as the system."""
    if session.get(Organization, organization_id) is None:
        raise NotFound("organization", organization_id)
    return _add_admin(session, Actor(organization_id, None, "owner"), email, role)


def _add_admin(session: Session, actor: Actor, email: str, role: str) -> NewAdmin:
    if role not in ROLES:
        raise ValidationFailed({"role": [f"must be one of {', '.join(ROLES)}, got {role!r}"]})
    admin = Admin(
        id=uuid.uuid4(),
        organization_id=actor.organization_id,
        email=_normalize_email(email),
        role=role,
    )
    session.add(admin)
    try:
        session.flush()
    except IntegrityError:  # uq_admins_live_email: a revoked admin's email is free again
        session.rollback()
        raise Conflict(f"an admin with email {admin.email} already exists") from None
    key = issue_key(session, admin)
    audit.record(
        session,
        actor,
        "admin.created",
        target_type="admin",
        target_ids=[admin.id],
        details={"role": role},
    )
    audit.record(session, actor, "key.created", target_type="admin", target_ids=[admin.id])
    session.commit()
    return NewAdmin(admin, key)


def rotate_key(session: Session, actor: Actor) -> str:
    """Replace the actor's API key (the one of this request) by a new one, shown once.

    The old key is revoked with a conditional UPDATE: of two rotations of one key at
    once, one wins and the other gets :class:`Conflict`, so a key never forks in two.
    """
    if actor.admin_id is None or actor.key_id is None:
        raise Forbidden("only an admin with an API key can rotate it")
    if not revoke_key(session, actor.key_id):
        session.rollback()
        raise Conflict("this API key was already revoked (rotated concurrently?)")
    admin = session.get(Admin, actor.admin_id)
    if admin is None or admin.revoked_at is not None:
        session.rollback()
        raise Conflict("this admin was revoked")
    key = issue_key(session, admin)
    audit.record(session, actor, "key.revoked", target_type="api_key", target_ids=[actor.key_id])
    new_id = uuid.UUID(hex=key.split("_")[1])
    audit.record(session, actor, "key.created", target_type="api_key", target_ids=[new_id])
    session.commit()
    return key


def list_admins(session: Session, actor: Actor) -> list[Admin]:
    return list(
        session.scalars(
            select(Admin)
            .where(Admin.organization_id == actor.organization_id)
            .order_by(Admin.created_at, Admin.id)
        )
    )


def revoke_admin(session: Session, actor: Actor, admin_id: uuid.UUID) -> Admin:
    """Revoke an admin and every key of theirs. The last active owner cannot be revoked."""
    _require_owner(actor)
    # The organization's row lock first: revocations of one organization's admins happen
    # one at a time, so the count of owners below is never stale (two owners revoking
    # each other at once under READ COMMITTED would both see two owners otherwise).
    session.execute(
        select(Organization.id).where(Organization.id == actor.organization_id).with_for_update()
    )
    if actor.admin_id is not None:
        acting = session.get(Admin, actor.admin_id, populate_existing=True)
        if acting is None or acting.revoked_at is not None:
            raise Unauthorized("API key revoked")  # revoked by another owner meanwhile
    admin = session.get(Admin, admin_id, populate_existing=True)
    if admin is None or admin.organization_id != actor.organization_id:
        raise NotFound("admin", admin_id)
    if admin.revoked_at is None:
        if admin.role == "owner":
            owners = session.scalars(
                select(Admin).where(
                    Admin.organization_id == actor.organization_id,
                    Admin.role == "owner",
                    Admin.revoked_at.is_(None),
                )
            ).all()
            if len(owners) <= 1:
                raise Conflict("cannot revoke the last owner of the organization")
        admin.revoked_at = datetime.now(UTC)
        revoked = revoke_keys(session, admin)
        audit.record(session, actor, "admin.revoked", target_type="admin", target_ids=[admin.id])
        audit.record(
            session,
            actor,
            "key.revoked",
            target_type="admin",
            target_ids=[admin.id],
            details={"keys": revoked},
        )
        session.commit()
    return admin

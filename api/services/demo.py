"""The demo organization that ``make run`` sets up on a fresh machine."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.services import audit
from api.services.context import Actor
from api.services.keys import issue_key, revoke_keys
from api.services.organizations import create_organization, find_organization_by_name
from models import Admin

DEMO_NAME = "Demo organization"
DEMO_OWNER = "owner@demo.example"


def ensure_demo_key(session: Session) -> str:
    """Create the demo organization if missing; else replace its owner's key with a new one."""
    org = find_organization_by_name(session, DEMO_NAME)
    if org is None:
        return create_organization(session, DEMO_NAME, DEMO_OWNER).api_key
    owner = session.scalars(
        select(Admin).where(Admin.organization_id == org.id, Admin.email == DEMO_OWNER)
    ).one()
    system = Actor(org.id, None, "owner")
    revoke_keys(session, owner)
    audit.record(session, system, "key.revoked", target_type="admin", target_ids=[owner.id])
    key = issue_key(session, owner)
    audit.record(session, system, "key.created", target_type="admin", target_ids=[owner.id])
    session.commit()
    return key

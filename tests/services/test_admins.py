"""Owners and keys: the last owner stays, even when two owners revoke each other at once."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.cli import main
from api.services import audit, organizations
from api.services.context import Actor
from api.services.errors import Conflict, Unauthorized
from api.services.keys import authenticate
from models import Admin, AuditEvent
from tests.factories import make_org
from tests.services.races import race, sweep


def _active_owners(session: Session, actor: Actor) -> list[Admin]:
    return list(
        session.scalars(
            select(Admin).where(
                Admin.organization_id == actor.organization_id,
                Admin.role == "owner",
                Admin.revoked_at.is_(None),
            )
        )
    )


@pytest.mark.parametrize("attempt", range(4))
def test_two_owners_revoking_each_other_at_once_leave_one(
    session_factory: sessionmaker[Session], attempt: int
) -> None:
    with session_factory() as session:
        first = make_org(session, f"Acme {attempt}")
        second = organizations.create_admin(session, first, "b@acme.example", role="owner").admin
        actors = (first, Actor(first.organization_id, second.id, "owner"))
        targets = (second.id, first.admin_id)

    def revoke(k: int) -> Any:
        return lambda session: organizations.revoke_admin(session, actors[k], targets[k])

    outcomes = race(session_factory, [revoke(0), revoke(1)])
    # The loser finds itself revoked (401) or the other the last owner (409).
    assert outcomes.count("ok") == 1, outcomes
    assert set(outcomes) - {"ok"} <= {"Conflict", "Unauthorized"}, outcomes
    with session_factory() as session:
        assert len(_active_owners(session, first)) == 1
        sweep(session)


def test_the_cli_gives_an_organization_without_owners_a_new_one(
    db_url: str, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    actor = make_org(session)
    owner = session.get(Admin, actor.admin_id)
    assert owner is not None
    owner.revoked_at = owner.created_at  # lost its owner (say, by a bug or a manual fix)
    session.commit()
    monkeypatch.setenv("MENTORMATCH_DATABASE_URL", db_url)
    org = str(actor.organization_id)
    args = ["admin", "create", "--org", org, "--email", "New@Acme.example", "--role", "owner"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    session.expire_all()
    new = authenticate(session, key)
    assert new.is_owner
    assert new.organization_id == actor.organization_id
    created = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "admin.created").order_by(AuditEvent.seq)
    ).all()[-1]
    assert created.actor_id is None  # the system, from the command line
    assert created.target_ids == [str(new.admin_id)]
    assert created.details == {"role": "owner"}
    assert audit.verify(session, actor.organization_id).valid


def test_the_cli_refuses_an_unknown_organization(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MENTORMATCH_DATABASE_URL", db_url)
    args = ["admin", "create", "--org", "00000000-0000-0000-0000-000000000000"]
    result = CliRunner().invoke(main, [*args, "--email", "a@b.example"])
    assert result.exit_code == 1
    assert "not found" in result.output


def test_a_revoked_admins_email_can_be_added_again(session: Session) -> None:
    actor = make_org(session)
    ann = organizations.create_admin(session, actor, "ann@acme.example").admin
    organizations.revoke_admin(session, actor, ann.id)
    again = organizations.create_admin(session, actor, "Ann@acme.example")
    assert again.admin.id != ann.id
    assert authenticate(session, again.api_key).admin_id == again.admin.id
    with pytest.raises(Conflict, match=r"ann@acme\.example"):
        organizations.create_admin(session, actor, "ann@acme.example")


def test_rotating_ones_own_key_revokes_the_old_one(session: Session) -> None:
    actor = make_org(session)
    ann = organizations.create_admin(session, actor, "ann@acme.example")
    old = authenticate(session, ann.api_key)
    new_key = organizations.rotate_key(session, old)
    with pytest.raises(Unauthorized, match="revoked"):
        authenticate(session, ann.api_key)
    assert authenticate(session, new_key).admin_id == ann.admin.id
    actions = [
        (e.action, e.actor_id, e.target_ids)
        for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))
    ][-2:]
    assert actions == [
        ("key.revoked", ann.admin.id, [str(old.key_id)]),
        ("key.created", ann.admin.id, [str(authenticate(session, new_key).key_id)]),
    ]
    # The old key cannot rotate again (it is revoked), even in a session that read it live.
    with pytest.raises(Conflict):
        organizations.rotate_key(session, old)


@pytest.mark.parametrize("attempt", range(3))
def test_rotating_one_key_twice_at_once_issues_one_new_key(
    session_factory: sessionmaker[Session], attempt: int
) -> None:
    with session_factory() as session:
        actor = make_org(session, f"Acme {attempt}")
        ann = organizations.create_admin(session, actor, "ann@acme.example")
        old = authenticate(session, ann.api_key)
    keys: list[str] = []
    outcomes = race(
        session_factory, [lambda session: keys.append(organizations.rotate_key(session, old))] * 4
    )
    assert sorted(outcomes) == ["Conflict"] * 3 + ["ok"], outcomes
    with session_factory() as session:
        assert authenticate(session, keys[0]).admin_id == ann.admin.id
        sweep(session)

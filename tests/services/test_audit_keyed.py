"""The keyed audit chain: what someone with database access but not the key can no
longer do unnoticed, the signed head kept outside, and the key's own rules."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from api.cli import main
from api.services import audit
from api.services.errors import ValidationFailed
from api.settings import Settings, SettingsError
from models import AuditEvent, Organization
from tests.factories import make_org


def _triggers_off(session: Session) -> None:
    """What a database superuser can do: the append-only triggers stop firing."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL session_replication_role = replica"))


def _rebuild_unkeyed(session: Session, org_id: uuid.UUID) -> None:
    """Recompute every hash with plain SHA-256 and move the head: the old attack."""
    prev = audit.GENESIS
    for event in session.scalars(
        select(AuditEvent).where(AuditEvent.organization_id == org_id).order_by(AuditEvent.seq)
    ):
        event.prev_hash = prev
        event.hash = hashlib.sha256(prev.encode() + audit._canonical(event)).hexdigest()
        prev = event.hash
    session.execute(update(Organization).where(Organization.id == org_id).values(audit_head=prev))


def _events(session: Session, org_id: uuid.UUID) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.organization_id == org_id).order_by(AuditEvent.seq)
        )
    )


def test_dropping_an_event_and_recomputing_the_chain_without_the_key_is_detected(
    session: Session,
) -> None:
    actor = make_org(session)
    _triggers_off(session)
    session.execute(delete(AuditEvent).where(AuditEvent.seq == 2))
    session.flush()
    for event in _events(session, actor.organization_id):
        if event.seq > 2:
            event.seq -= 1
    session.flush()
    session.execute(
        update(Organization).where(Organization.id == actor.organization_id).values(audit_seq=2)
    )
    # The attacker recomputes with every hash they can: plain SHA-256, or HMAC without
    # the key. Neither verifies.
    _rebuild_unkeyed(session, actor.organization_id)
    session.flush()
    report = audit.verify(session, actor.organization_id)
    assert not report.valid
    assert report.first_bad_seq == 1
    assert report.problem == "content does not match its hash"


def _as_before_0007(session: Session, org_id: uuid.UUID) -> None:
    """The organization as migration 0007 leaves it: plain rows, no seal."""
    _triggers_off(session)
    for event in _events(session, org_id):
        event.scheme = audit.PLAIN
    session.flush()
    _rebuild_unkeyed(session, org_id)
    session.execute(
        update(Organization)
        .where(Organization.id == org_id)
        .values(audit_keyed_from=None, audit_seal=None)
    )
    session.commit()


def test_events_written_before_the_key_still_verify_once_sealed(session: Session) -> None:
    actor = make_org(session)  # 3 events
    _as_before_0007(session, actor.organization_id)
    assert audit.verify(session, actor.organization_id).problem == (
        "the chain is not sealed with the audit key"
    )
    assert audit.seal_all(session) == 1
    assert audit.seal_all(session) == 0  # once
    old = audit.verify(session, actor.organization_id)
    assert (old.valid, old.unkeyed) == (True, 3)
    audit.record(session, actor, "run.triggered")  # the first keyed event links to them
    session.commit()
    mixed = audit.verify(session, actor.organization_id)
    assert (mixed.valid, mixed.events, mixed.unkeyed) == (True, 4, 3)


def test_rewriting_a_keyed_chain_as_plain_is_detected(session: Session) -> None:
    actor = make_org(session)
    audit.record(session, actor, "run.triggered")
    session.commit()
    # Re-label every event plain and recompute: the seal says the chain is keyed from 1.
    _triggers_off(session)
    for event in _events(session, actor.organization_id):
        event.scheme = audit.PLAIN
    session.flush()
    _rebuild_unkeyed(session, actor.organization_id)
    session.flush()
    report = audit.verify(session, actor.organization_id)
    assert not report.valid
    assert report.problem == "hash scheme does not match the chain's seal"
    # Moving the boundary, or dropping the seal, needs the key too.
    session.execute(
        update(Organization)
        .where(Organization.id == actor.organization_id)
        .values(audit_keyed_from=99)
    )
    assert "seal does not match" in (audit.verify(session, actor.organization_id).problem or "")


def test_a_saved_head_detects_a_tail_cut_and_a_rewound_head(session: Session) -> None:
    actor = make_org(session)
    for _ in range(3):
        audit.record(session, actor, "run.triggered")
    session.commit()
    head = audit.signed_head(session, actor)
    assert head.seq == 6
    assert audit.verify(session, actor.organization_id, since_head=head.anchor).valid
    audit.record(session, actor, "run.triggered")  # the chain extends the saved head
    session.commit()
    assert audit.verify(session, actor.organization_id, since_head=head.anchor).valid
    # Delete the tail and rewind the organization's head: valid on its own...
    _triggers_off(session)
    session.execute(delete(AuditEvent).where(AuditEvent.seq > 4))
    fourth = _events(session, actor.organization_id)[-1]
    session.execute(
        update(Organization)
        .where(Organization.id == actor.organization_id)
        .values(audit_seq=4, audit_head=fourth.hash)
    )
    session.flush()
    assert audit.verify(session, actor.organization_id).valid
    # ...but not against the head kept outside.
    cut = audit.verify(session, actor.organization_id, since_head=head.anchor)
    assert not cut.valid
    assert "saved head" in (cut.problem or "")


def test_a_head_not_signed_for_this_organization_is_refused(session: Session) -> None:
    actor, other = make_org(session), make_org(session, "Other")
    head = audit.signed_head(session, actor)
    forged = head.anchor.replace(head.signature, "0" * 64)
    for anchor in (forged, "garbage", audit.signed_head(session, other).anchor):
        with pytest.raises(ValidationFailed):
            audit.verify(session, actor.organization_id, since_head=anchor)


def test_truncate_is_refused_on_postgresql(session: Session) -> None:
    make_org(session)
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")  # one leg only: a PostgreSQL trigger
    with pytest.raises(DBAPIError, match="TRUNCATE refused"):
        session.execute(text("TRUNCATE audit_events"))
    session.rollback()
    with pytest.raises(DBAPIError, match="TRUNCATE refused"):
        session.execute(text("TRUNCATE organizations CASCADE"))


def test_the_embedded_default_generates_a_key_once(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'instance' / 'mm.sqlite3'}")
    first = settings.audit_secret()
    assert len(first) == 64
    assert settings.audit_key_file == tmp_path / "instance" / "mentormatch-audit.key"
    assert settings.audit_key_file.stat().st_mode & 0o777 == 0o600
    assert settings.audit_secret() == first  # read back on the next start


def test_a_missing_key_in_production_is_a_startup_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from api.app import create_app

    monkeypatch.delenv("MENTORMATCH_AUDIT_KEY")
    with pytest.raises(SettingsError, match="MENTORMATCH_AUDIT_KEY: required with a PostgreSQL"):
        create_app({"DATABASE_URL": "postgresql://mm@db.invalid/mm"})
    monkeypatch.setenv("MENTORMATCH_DATABASE_URL", "postgresql://mm@db.invalid/mm")
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert "MENTORMATCH_AUDIT_KEY" in result.output


def test_a_short_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"MENTORMATCH_AUDIT_KEY": "hunter2"})
    assert "hunter2" not in str(refused.value)
    assert "7 characters" in str(refused.value)


def test_head_and_verify_since_head_over_http(client: Any, tenant: Any) -> None:
    head = client.get("/v1/audit/head", headers=tenant.headers)
    assert head.status_code == 200
    assert head.json["seq"] == 3
    assert set(head.json) == {"seq", "head", "time", "signature", "anchor"}
    anchor = head.json["anchor"]
    checked = client.get(f"/v1/audit/verify?since_head={anchor}", headers=tenant.headers)
    assert checked.status_code == 200
    assert checked.json["valid"] is True
    assert checked.json["since_seq"] == 3
    bad = client.get("/v1/audit/verify?since_head=3.x.y.z", headers=tenant.headers)
    assert bad.status_code == 422
    assert "since_head" in bad.json["errors"]

"""Tenancy in depth: a forgotten organization filter leaks nothing.

The ORM guard (models.tenant_guard) on both databases; PostgreSQL's row-level
security (migration 0008) as the application role, with raw SQL that filters on
nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased, sessionmaker

from api.services import export_jobs, matches, participants, retention, runs
from api.services.errors import NotFound, Unauthorized
from api.services.keys import authenticate, authenticate_and_scope, issue_key
from models import (
    Admin,
    ApiKey,
    Base,
    Export,
    Match,
    Participant,
    Program,
    Run,
    make_engine,
    make_session_factory,
)
from models.base import OrganizationOwned
from models.tenant_guard import (
    TenantScopeError,
    require_scope,
    scope_session,
    tenant_mappers,
    unguarded,
    unguarded_until_scoped,
)
from tests.factories import Scenario, make_org, proposals, with_outcome_and_prior

APP_ROLE = "mentormatch_app"


def _everything(session: Session, name: str) -> Scenario:
    """An organization with a row in every tenant table."""
    scenario = with_outcome_and_prior(session, proposals(session, make_org(session, name)))
    org = scenario.program.organization_id
    session.add(
        Export(
            id=uuid.uuid4(),
            organization_id=org,
            format="json",
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
    )
    session.commit()
    return scenario


@pytest.fixture
def two(session_factory: sessionmaker[Session]) -> tuple[Scenario, Scenario]:
    with session_factory() as session:
        a, b = _everything(session, "Acme"), _everything(session, "Globex")
    with session_factory() as session:  # every tenant table holds rows of both
        for mapper in tenant_mappers():
            orgs = set(session.scalars(select(mapper.class_.organization_id)))
            assert orgs == {a.actor.organization_id, b.actor.organization_id}, mapper
    return a, b


def _stray_key(session_factory: sessionmaker[Session], a: Scenario, b: Scenario) -> None:
    """A foreign row pointing across organizations, what a bug would leave: a key of
    B's owner recorded under A (the foreign key allows it)."""
    with session_factory() as session:
        session.add(
            ApiKey(
                id=uuid.uuid4(),
                organization_id=a.actor.organization_id,
                admin_id=b.actor.admin_id,
                secret_hash="0" * 64,
            )
        )
        session.commit()


def test_every_model_with_an_organization_id_is_guarded() -> None:
    guarded = {m.local_table.name for m in tenant_mappers()}  # type: ignore[attr-defined]
    expected = {t.name for t in Base.metadata.sorted_tables if "organization_id" in t.c}
    assert guarded == expected
    assert "participants" in guarded
    # The guard's one criterion is written against their mixin: each of them has it.
    owned = {m.class_ for m in Base.registry.mappers if issubclass(m.class_, OrganizationOwned)}
    assert owned == {m.class_ for m in tenant_mappers()}


def test_one_session_scoped_in_turn_sees_each_organization_alone(
    session_factory: sessionmaker[Session], two: tuple[Scenario, Scenario]
) -> None:
    """The organization is a parameter of the compiled statement, not part of it: the
    same statement, cached once, filters on whichever organization the session has."""
    a, b = two
    statement = select(Participant.organization_id).distinct()
    with session_factory() as session:
        for org in (a.actor.organization_id, b.actor.organization_id, a.actor.organization_id):
            scope_session(session, org)
            assert set(session.scalars(statement)) == {org}
            session.expunge_all()  # session.get below asks the database
            found = session.get(Run, a.run.id)
            assert (found is not None) == (org == a.actor.organization_id)


def test_a_lazy_load_takes_the_scope_of_the_moment(
    session_factory: sessionmaker[Session], two: tuple[Scenario, Scenario]
) -> None:
    """A relationship load goes through the guard when it runs, with the session's
    scope at that moment (not the one its object was loaded with)."""
    a, b = two
    _stray_key(session_factory, a, b)
    for unguarded_load in (False, True):
        with session_factory() as session:
            scope_session(session, a.actor.organization_id)
            stray = session.scalars(select(ApiKey).where(ApiKey.admin_id == b.actor.admin_id)).one()
            if unguarded_load:
                with unguarded(session):
                    assert stray.admin is not None
                    assert stray.admin.id == b.actor.admin_id
            else:
                assert stray.admin is None


def test_a_scoped_session_sees_only_its_organization(
    session_factory: sessionmaker[Session], two: tuple[Scenario, Scenario]
) -> None:
    a, b = two
    org_a = a.actor.organization_id
    with session_factory() as session:
        scope_session(session, org_a)
        for mapper in tenant_mappers():
            # No filter in the query: the guard adds it.
            orgs = set(session.scalars(select(mapper.class_.organization_id)))
            assert orgs == {org_a}, mapper
            entities = session.scalars(select(mapper.class_)).all()
            assert {e.organization_id for e in entities} == {org_a}, mapper
        assert session.get(Participant, b.mentees[0].id) is None
        assert session.get(Run, b.run.id) is None
        assert session.get(Participant, a.mentees[0].id) is not None
        # Joins and aliases: B's matches through A's people are not found either.
        mentee = aliased(Participant)
        joined = session.scalars(select(Match.id).join(mentee, mentee.id == Match.mentee_id)).all()
        assert set(joined) == {m.id for m in a.matches}
        assert session.scalar(select(func.count()).select_from(Participant)) == len(
            a.mentees + a.mentors + a.unmatched
        )


def test_relationships_load_only_the_organization(
    session_factory: sessionmaker[Session], two: tuple[Scenario, Scenario]
) -> None:
    a, b = two
    _stray_key(session_factory, a, b)
    with session_factory() as session:
        scope_session(session, a.actor.organization_id)
        owner = session.get(Admin, a.actor.admin_id)
        assert owner is not None
        assert {k.organization_id for k in owner.keys} == {a.actor.organization_id}
        program = session.get(Program, a.program.id)
        assert program is not None
        assert {c.organization_id for c in program.configs} == {a.actor.organization_id}
        stray = session.scalars(select(ApiKey).where(ApiKey.admin_id == b.actor.admin_id)).one()
        assert stray.admin is None  # B's admin stays out of reach through the relationship


def test_updates_and_deletes_touch_only_the_organization(
    session_factory: sessionmaker[Session], two: tuple[Scenario, Scenario]
) -> None:
    a, b = two
    with session_factory() as session:
        scope_session(session, a.actor.organization_id)
        session.execute(update(Participant).values(position="Renamed"))
        session.commit()
    with session_factory() as session:
        renamed = set(
            session.scalars(
                select(Participant.organization_id).where(Participant.position == "Renamed")
            )
        )
    assert renamed == {a.actor.organization_id}
    assert b.actor.organization_id not in renamed


def test_an_update_synchronizes_the_objects_loaded_in_the_session(
    session_factory: sessionmaker[Session], two: tuple[Scenario, Scenario]
) -> None:
    """SQLAlchemy evaluates the guard's criterion on the loaded objects to update them
    in place: it must carry the organization's value, not a parameter without one."""
    a, b = two
    with session_factory() as session:
        scope_session(session, a.actor.organization_id)
        mine = session.get_one(Participant, a.mentees[0].id)
        session.execute(update(Participant).values(position="Synced"))
        assert mine.position == "Synced"  # updated in place, no refresh
        session.commit()
    with session_factory() as session:
        theirs = session.get_one(Participant, b.mentees[0].id)
        assert theirs.position != "Synced"


def test_a_select_with_a_list_of_parameter_sets_is_guarded_too(
    session_factory: sessionmaker[Session], two: tuple[Scenario, Scenario]
) -> None:
    a, _ = two
    with session_factory() as session:
        scope_session(session, a.actor.organization_id)
        orgs = set(session.scalars(select(Participant.organization_id), [{}]))
        assert orgs == {a.actor.organization_id}


def test_a_scoped_session_refuses_to_write_another_organizations_row(
    session_factory: sessionmaker[Session], two: tuple[Scenario, Scenario]
) -> None:
    a, b = two
    with session_factory() as session:
        scope_session(session, a.actor.organization_id)
        session.add(
            Program(id=uuid.uuid4(), organization_id=b.actor.organization_id, name="Planted")
        )
        with pytest.raises(TenantScopeError, match="writing a Program of organization"):
            session.flush()


def test_the_explicit_opt_out_sees_both(
    session_factory: sessionmaker[Session], two: tuple[Scenario, Scenario]
) -> None:
    a, b = two
    both = {a.actor.organization_id, b.actor.organization_id}
    with session_factory() as session:
        scope_session(session, a.actor.organization_id)
        with unguarded(session):
            assert set(session.scalars(select(Participant.organization_id))) == both
            assert session.get(Run, b.run.id) is not None
        # Scoped again after the block.
        assert set(session.scalars(select(Participant.organization_id))) == {
            a.actor.organization_id
        }


def test_a_session_that_requires_a_scope_refuses_tenant_queries(
    session_factory: sessionmaker[Session], two: tuple[Scenario, Scenario]
) -> None:
    a, _ = two
    with session_factory() as session:
        require_scope(session)
        with pytest.raises(TenantScopeError, match="Participant"):
            session.scalars(select(Participant)).all()
        with unguarded(session):
            assert session.scalars(select(Participant)).first() is not None
        with pytest.raises(TenantScopeError):
            session.get(Run, a.run.id)
        scope_session(session, a.actor.organization_id)
        assert session.get(Run, a.run.id) is not None


def test_a_service_without_its_filter_leaks_nothing(
    session_factory: sessionmaker[Session], two: tuple[Scenario, Scenario]
) -> None:
    """``expire_exports`` deletes every expired export, filtering on no organization:
    inside A's scope it reaches only A's; and a service handed B's actor inside A's
    scope finds nothing of B."""
    a, b = two
    later = datetime.now(UTC) + timedelta(days=2)  # both exports have expired by then
    with session_factory() as session:
        scope_session(session, a.actor.organization_id)
        assert export_jobs.expire_exports(session, now=later) == 1
        session.commit()
        with pytest.raises(NotFound):
            matches.list_matches(session, b.actor, b.program.id)
    with session_factory() as session:
        left = set(session.scalars(select(Export.organization_id)))
    assert left == {b.actor.organization_id}


# PostgreSQL: row-level security as the application role ------------------------------


def _tenant_tables() -> list[str]:
    return sorted(t.name for t in Base.metadata.sorted_tables if "organization_id" in t.c)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_raw_sql_as_the_app_role_in_a_transaction_of_a_sees_no_row_of_b(
    session_factory: sessionmaker[Session], two: tuple[Scenario, Scenario]
) -> None:
    a, _ = two
    org_a = a.actor.organization_id
    with session_factory() as session:
        scope_session(session, org_a)  # sets mentormatch.organization_id for the transaction
        session.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        assert session.scalar(text("SELECT current_user")) == APP_ROLE
        for table in _tenant_tables():
            # No organization filter anywhere in the SQL.
            orgs = set(session.scalars(text(f"SELECT organization_id FROM {table}")))
            assert orgs == {org_a}, table
        session.rollback()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    ("setting", "sees"),
    [(None, "nothing"), ("", "nothing"), ("system", "both"), ("b", "b")],
)
def test_what_each_setting_lets_the_app_role_see(
    session_factory: sessionmaker[Session], two: tuple[Scenario, Scenario], setting: Any, sees: str
) -> None:
    a, b = two
    value = str(b.actor.organization_id) if setting == "b" else setting
    expected = {
        "nothing": set(),
        "both": {a.actor.organization_id, b.actor.organization_id},
        "b": {b.actor.organization_id},
    }[sees]
    with session_factory() as session:
        if value is not None:
            session.execute(
                text("SELECT set_config('mentormatch.organization_id', :v, true)"), {"v": value}
            )
        session.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        for table in _tenant_tables():
            assert set(session.scalars(text(f"SELECT organization_id FROM {table}"))) == expected
        session.rollback()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_app_role_cannot_write_a_row_of_b_in_a_transaction_of_a(
    session_factory: sessionmaker[Session], two: tuple[Scenario, Scenario]
) -> None:
    a, b = two
    org_a, org_b = a.actor.organization_id, b.actor.organization_id
    insert = text(
        "INSERT INTO programs (id, organization_id, name, config_version, created_at, updated_at) "
        "VALUES (:id, :org, 'Planted', 1, now(), now())"
    )
    with session_factory() as session:
        scope_session(session, org_a)
        session.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        session.execute(insert, {"id": uuid.uuid4(), "org": org_a})  # its own: fine
        with pytest.raises(DBAPIError, match="row-level security"):
            session.execute(insert, {"id": uuid.uuid4(), "org": org_b})
        session.rollback()
    with session_factory() as session:
        scope_session(session, org_a)
        session.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        # Nor move one of A's rows over to B, nor touch B's rows.
        with pytest.raises(DBAPIError, match="row-level security"):
            session.execute(
                text("UPDATE programs SET organization_id = :b WHERE id = :p"),
                {"b": org_b, "p": a.program.id},
            )
        session.rollback()
    with session_factory() as session:
        scope_session(session, org_a)
        session.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        deleted = session.execute(text("DELETE FROM exports"))
        assert deleted.rowcount == 1  # type: ignore[attr-defined]
        session.rollback()
    with session_factory() as session:  # B's export is still there
        assert (
            session.scalar(
                select(func.count()).select_from(Export).where(Export.organization_id == org_b)
            )
            == 1
        )


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_every_tenant_table_has_forced_row_level_security(
    session_factory: sessionmaker[Session],
) -> None:
    """A migration adding a tenant table must add its policy too."""
    with session_factory() as session:
        rows = session.execute(
            text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                "pg_get_userbyid(c.relowner) AS owner, "
                "(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies "
                "FROM pg_class c WHERE c.relname = ANY(:tables)"
            ),
            {"tables": _tenant_tables()},
        ).all()
        assert sorted(r.relname for r in rows) == _tenant_tables()
        for row in rows:
            assert row.relrowsecurity, row.relname
            assert row.relforcerowsecurity, row.relname
            assert row.policies >= 1, row.relname
            assert row.owner != APP_ROLE, row.relname
        assert not session.scalar(
            text("SELECT rolcanlogin OR rolbypassrls FROM pg_roles WHERE rolname = :r"),
            {"r": APP_ROLE},
        )


@pytest.fixture
def app_role_factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions connected as the application role, the way production connects."""
    engine = make_engine(db_url)

    @event.listens_for(engine, "connect")
    def _as_app_role(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {APP_ROLE}")
        dbapi_connection.commit()

    key = os.environ["MENTORMATCH_AUDIT_KEY"].encode()
    yield make_session_factory(engine, info={"audit_key": key})
    engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_service_works_as_the_app_role(
    session_factory: sessionmaker[Session],
    app_role_factory: sessionmaker[Session],
    two: tuple[Scenario, Scenario],
) -> None:
    """A request's path (authenticate unguarded, then scoped), a run on the worker's
    path and the purge's opt-out, all under the policies; unscoped, nothing."""
    a, b = two
    with session_factory() as session:
        key = issue_key(session, session.get_one(Admin, a.actor.admin_id))
        session.commit()
        run = runs.start_run(session, a.actor, a.program.id)
        session.commit()
    with app_role_factory() as session:
        assert session.scalar(text("SELECT current_user")) == APP_ROLE
        assert session.scalars(select(Participant)).all() == []  # unscoped: no row at all
        session.rollback()
        require_scope(session)
        actor = authenticate(session, key)
        scope_session(session, actor.organization_id)
        page = participants.list_participants(session, actor, a.program.id, limit=100)
        assert {p.organization_id for p in page.items} == {a.actor.organization_id}
        raw = set(session.scalars(text("SELECT organization_id FROM participants")))
        assert raw == {a.actor.organization_id}
        with pytest.raises(NotFound):
            participants.list_participants(session, b.actor, b.program.id, limit=100)
        session.commit()  # the next transaction is scoped too
        assert set(session.scalars(text("SELECT organization_id FROM runs"))) == {
            a.actor.organization_id
        }
    assert runs.execute_run(app_role_factory, run.id) == "succeeded"
    with app_role_factory() as session:
        with unguarded(session):
            orgs = set(session.scalars(text("SELECT organization_id FROM participants")))
        assert orgs == {a.actor.organization_id, b.actor.organization_id}
        report = retention.purge_due(
            session, now=datetime.now(UTC), retention_days=30, dry_run=True
        )
        assert report.purged == []


def _setting_changes(session: Session) -> list[str]:
    """The values of the organization setting the session sends from now on."""
    sent: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "set_config" in statement:  # alone, or a column of the key lookup
            sent.append(params.get("value", "<in the statement>"))

    event.listen(session.get_bind(), "before_cursor_execute", before)
    return sent


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_request_scopes_itself_with_one_setting_change_after_the_key_lookup(
    session_factory: sessionmaker[Session],
    app_role_factory: sessionmaker[Session],
    two: tuple[Scenario, Scenario],
) -> None:
    """The request's path (api.auth): unguarded for the key, then scoped, without
    restoring the unscoped setting in between; the policies hold throughout."""
    a, _ = two
    org_a = a.actor.organization_id
    with session_factory() as session:
        key = issue_key(session, session.get_one(Admin, a.actor.admin_id))
        session.commit()
    with app_role_factory() as session:
        sent = _setting_changes(session)
        require_scope(session)
        with unguarded_until_scoped(session):
            actor = authenticate(session, key)  # its own unguarded() block changes nothing
            assert len(set(session.scalars(text("SELECT organization_id FROM runs")))) == 2
            scope_session(session, actor.organization_id)
        assert set(session.scalars(text("SELECT organization_id FROM runs"))) == {org_a}
        assert sent == ["system", str(org_a)]
        scope_session(session, org_a)  # the same scope again: nothing sent
        assert sent == ["system", str(org_a)]
        session.commit()  # a new transaction gets it from the session
        assert set(session.scalars(text("SELECT organization_id FROM runs"))) == {org_a}
        assert sent == ["system", str(org_a), str(org_a)]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_requests_key_lookup_scopes_its_transaction_itself(
    session_factory: sessionmaker[Session],
    app_role_factory: sessionmaker[Session],
    two: tuple[Scenario, Scenario],
) -> None:
    """authenticate_and_scope (api.auth's path): one statement reads the key past the
    policies (the function of migration 0012, which puts the setting back after its
    query) and scopes the transaction as it reads the row, so no setting is sent on its
    own; then the policies and the ORM guard show organization A alone. A refused key
    whose row was read leaves the session unscoped again: nothing visible."""
    a, _ = two
    org_a = a.actor.organization_id
    with session_factory() as session:
        key = issue_key(session, session.get_one(Admin, a.actor.admin_id))
        session.commit()
    with app_role_factory() as session:
        sent = _setting_changes(session)
        require_scope(session)
        assert authenticate_and_scope(session, key).organization_id == org_a
        assert sent == ["<in the statement>"]
        setting = "SELECT current_setting('mentormatch.organization_id', true)"
        assert session.scalar(text(setting)) == str(org_a)
        assert set(session.scalars(text("SELECT organization_id FROM runs"))) == {org_a}
        assert {run.organization_id for run in session.scalars(select(Run))} == {org_a}
        scope_session(session, org_a)  # the same scope: nothing sent
        assert len(sent) == 1
        session.commit()  # the next transaction gets it from the session
        assert set(session.scalars(text("SELECT organization_id FROM runs"))) == {org_a}
    wrong_secret = key[:-1] + ("A" if key[-1] != "A" else "B")
    unknown_id = f"mm_{uuid.uuid4().hex}_{key.rsplit('_', 1)[-1]}"  # no row: nothing read
    for refused in (wrong_secret, unknown_id):
        with app_role_factory() as session:
            require_scope(session)
            session.scalar(text("SELECT 1"))  # a transaction under way, setting unset
            with pytest.raises(Unauthorized):
                authenticate_and_scope(session, refused)
            assert session.scalar(text(setting)) == ""  # the function put it back
            assert set(session.scalars(text("SELECT organization_id FROM runs"))) == set()
    with app_role_factory() as session:
        require_scope(session)
        with pytest.raises(Unauthorized):
            authenticate_and_scope(session, wrong_secret)
        assert set(session.scalars(text("SELECT organization_id FROM runs"))) == set()
        with pytest.raises(TenantScopeError):
            session.scalars(select(Run)).all()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("leave", ["raise", "unscoped"])
def test_a_block_that_does_not_scope_restores_the_scope_before(
    app_role_factory: sessionmaker[Session], two: tuple[Scenario, Scenario], leave: str
) -> None:
    assert two  # rows of two organizations, which the unguarded block sees
    with app_role_factory() as session:
        require_scope(session)
        session.scalar(text("SELECT 1"))  # a transaction under way: the setting is sent
        try:
            with unguarded_until_scoped(session):
                assert len(set(session.scalars(text("SELECT organization_id FROM runs")))) == 2
                if leave == "raise":
                    raise LookupError("invalid API key")
        except LookupError:
            pass
        assert set(session.scalars(text("SELECT organization_id FROM runs"))) == set()
        with pytest.raises(TenantScopeError):
            session.scalars(select(Run)).all()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("block", [unguarded, unguarded_until_scoped])
def test_a_database_error_inside_an_unguarded_block_is_the_error_that_leaves_it(
    app_role_factory: sessionmaker[Session], two: tuple[Scenario, Scenario], block: Any
) -> None:
    """The failed statement aborted the transaction, so the scope's restore cannot be
    sent: the statement's own error leaves the block, and after the rollback the
    session is back in its scope before (here: none, so nothing is visible)."""
    assert two
    with app_role_factory() as session:
        require_scope(session)
        with pytest.raises(DBAPIError) as raised, block(session):
            session.execute(text("SELECT 1 / 0"))
        assert raised.value.orig is not None
        assert raised.value.orig.sqlstate == "22012"  # division_by_zero, not 25P02
        session.rollback()
        assert set(session.scalars(text("SELECT organization_id FROM runs"))) == set()
        with pytest.raises(TenantScopeError):
            session.scalars(select(Run)).all()


def test_a_failed_flush_inside_an_unguarded_block_is_the_error_that_leaves_it(
    session: Session,
) -> None:
    """After a flush fails the session's transaction is inactive: restoring the scope
    cannot be sent, and the flush's own error (not PendingRollbackError) leaves."""
    from sqlalchemy.exc import IntegrityError

    from tests.factories import make_org, make_program

    program = make_program(session, make_org(session))
    session.commit()
    require_scope(session)
    boss = Participant(
        id=uuid.uuid4(),
        organization_id=program.organization_id,
        program_id=program.id,
        external_id="x",
        role="boss",  # refused by the role's CHECK constraint
        name="X",
    )

    def flush_unguarded() -> None:
        with unguarded(session):
            session.add(boss)
            session.flush()

    with pytest.raises(IntegrityError):
        flush_unguarded()
    session.rollback()
    with pytest.raises(TenantScopeError):  # the scope before is back
        session.scalars(select(Run)).all()

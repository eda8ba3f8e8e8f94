"""Row-level security on every tenant table, and the application's role (PostgreSQL)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-26 10:00:00.000000

Tenancy in depth (models.tenant_guard): the service connects as a role that owns no
table, ``mentormatch_app`` (NOLOGIN: a login role is granted it, README "Tenant
isolation in PostgreSQL"), with DML on the tables and nothing else. Every table with
an ``organization_id`` gets row-level security, FORCEd so that the owner is held to
it too, and one policy, ``tenant_isolation``, for every command and role, read and
write alike, keyed on the transaction's ``mentormatch.organization_id`` setting,
which a scoped session sets at the start of each transaction:

* an organization's id: that organization's rows only; a row written for another
  is refused (WITH CHECK);
* ``'system'``: every row (``models.tenant_guard.unguarded``: authentication,
  expiring runs and exports, the purge, the CLI's maintenance);
* unset or empty: **no row**. A code path that forgot to scope sees nothing.

Superusers and roles with BYPASSRLS are not held by policies (the tests' ``postgres``;
they test the policies with ``SET LOCAL ROLE mentormatch_app``). ``organizations``
has no ``organization_id`` and no policy. The role is created only if missing (roles
belong to the cluster; a DBA may create it beforehand, then the migrating role needs
no CREATEROLE) and is left in place by the downgrade. SQLite: nothing to do.
"""

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

ROLE = "mentormatch_app"
#: Every table with an organization_id column, as of this revision. A later migration
#: adding one adds its policy too (tests/services/test_tenant_guard.py checks).
TENANT_TABLES = (
    "admins",
    "api_keys",
    "audit_events",
    "exports",
    "matches",
    "outcomes",
    "participants",
    "program_configs",
    "programs",
    "runs",
    "unmatched_mentees",
    "weights_versions",
)
OTHER_TABLES = ("organizations",)

# CASE rather than OR: PostgreSQL does not promise to evaluate OR's arms in order,
# and 'system'::uuid would fail. An unset setting is NULL: the ELSE compares to NULL,
# which no row passes.
VISIBLE = """
CASE current_setting('mentormatch.organization_id', true)
    WHEN 'system' THEN true
    WHEN '' THEN false
    ELSE organization_id = current_setting('mentormatch.organization_id', true)::uuid
END
"""

CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
        CREATE ROLE {ROLE} NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created meanwhile by a migration of another database of the cluster
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CREATE_ROLE)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {ROLE}")
    tables = ", ".join(TENANT_TABLES + OTHER_TABLES)
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {ROLE}")
    op.execute(f"GRANT SELECT ON alembic_version TO {ROLE}")
    # Tables that later migrations create (as the same owner) get the same grants.
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {ROLE}"
    )
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} USING ({VISIBLE}) WITH CHECK ({VISIBLE})"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {ROLE}"
    )
    tables = ", ".join(TENANT_TABLES + OTHER_TABLES)
    op.execute(f"REVOKE SELECT, INSERT, UPDATE, DELETE ON {tables} FROM {ROLE}")
    op.execute(f"REVOKE SELECT ON alembic_version FROM {ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {ROLE}")

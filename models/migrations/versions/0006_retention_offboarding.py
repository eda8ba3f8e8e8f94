"""Retention and offboarding: organizations.deleted_at, erasable admin emails, the purge's audit exception

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-23 10:00:00.000000

``organizations.deleted_at`` marks an organization its owner deleted (purged after the
retention period); ``admins.email`` becomes nullable and ``admins.erased_at`` records
that a removed admin's email was erased on request (the row stays: audit events name
its id). New columns are nullable: existing rows are untouched. SQLite rebuilds
``admins`` to drop NOT NULL (``models.migrate`` keeps its keys through the rebuild).

On PostgreSQL the append-only trigger of ``audit_events`` keeps refusing every UPDATE
and DELETE but one: the purge of an organization that was deleted, which names it in
the transaction-local setting ``mentormatch.purge_organization`` and deletes that
organization's chain alone. A program's purge deletes no audit event.
"""

from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP;
END
$$ LANGUAGE plpgsql
"""

APPEND_ONLY_BUT_OFFBOARDING = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND OLD.organization_id::text = current_setting('mentormatch.purge_organization', true)
       AND EXISTS (SELECT 1 FROM organizations o
                   WHERE o.id = OLD.organization_id AND o.deleted_at IS NOT NULL)
    THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP;
END
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_organizations_deleted_at'), ['deleted_at'], unique=False)

    with op.batch_alter_table('admins', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column('email', existing_type=sa.String(length=320), nullable=True)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_BUT_OFFBOARDING)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY)
    # An erased email cannot come back: a placeholder that names nobody fills NOT NULL.
    op.execute("UPDATE admins SET email = 'erased-' || id || '@invalid' WHERE email IS NULL")
    with op.batch_alter_table('admins', schema=None) as batch_op:
        batch_op.alter_column('email', existing_type=sa.String(length=320), nullable=False)
        batch_op.drop_column('erased_at')

    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organizations_deleted_at'))
        batch_op.drop_column('deleted_at')

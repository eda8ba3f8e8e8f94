"""A revoked admin's email may be added again: the unique email covers live admins only

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-23 10:00:00.000000

Replaces the unique constraint on ``admins (organization_id, email)`` by a partial
unique index ``WHERE revoked_at IS NULL``: two live admins of one organization still
never share an email (the database refuses it whoever adds them at once), while a
revoked one stays in the history beside a new admin with the same email. SQLite
rebuilds ``admins`` in batch mode (``models.migrate`` keeps its keys' rows).
"""

from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('admins', schema=None) as batch_op:
        batch_op.drop_constraint('uq_admins_organization_id_email', type_='unique')
        batch_op.create_index('uq_admins_live_email', ['organization_id', 'email'], unique=True, sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('admins', schema=None) as batch_op:
        batch_op.drop_index('uq_admins_live_email', sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))
        batch_op.create_unique_constraint('uq_admins_organization_id_email', ['organization_id', 'email'])

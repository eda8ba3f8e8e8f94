"""Organization exports built by a job: the exports table

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-22 10:00:00.000000

An export too large to answer in the request is built by a worker and stored here
until it is downloaded once or expires; the row then goes. A new table: existing
rows are untouched.
"""

from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'exports',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('organization_id', sa.Uuid(), nullable=False),
        sa.Column('requested_by', sa.Uuid(), nullable=True),
        sa.Column('format', sa.String(length=8), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=True),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('queued', 'running', 'ready', 'failed')", name=op.f('ck_exports_status')),
        sa.CheckConstraint("format IN ('json', 'csv')", name=op.f('ck_exports_format')),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_exports_organization_id_organizations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['requested_by'], ['admins.id'], name=op.f('fk_exports_requested_by_admins'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_exports')),
    )
    with op.batch_alter_table('exports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exports_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_exports_organization_id'), ['organization_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('exports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exports_organization_id'))
        batch_op.drop_index(batch_op.f('ix_exports_expires_at'))
    op.drop_table('exports')

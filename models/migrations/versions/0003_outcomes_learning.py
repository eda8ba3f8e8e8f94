"""Learning from outcomes: weights summaries, predicted success, one active weights version

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-20 10:00:00.000000

Adds ``weights_versions.summary`` (plain words for what was learned),
``matches.predicted_success`` (calibrated from past outcomes; null when a program
had too few) and the partial unique index that keeps one active weights version per
program. Both columns are nullable: existing rows stay as they are. On SQLite batch
mode adds the columns in place and creates the index without rebuilding a table.
"""

from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('weights_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('summary', sa.Text(), nullable=True))
        batch_op.create_index('uq_weights_versions_one_active_per_program', ['program_id'], unique=True, sqlite_where=sa.text('active'), postgresql_where=sa.text('active'))

    with op.batch_alter_table('matches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('predicted_success', sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('matches', schema=None) as batch_op:
        batch_op.drop_column('predicted_success')

    with op.batch_alter_table('weights_versions', schema=None) as batch_op:
        batch_op.drop_index('uq_weights_versions_one_active_per_program', sqlite_where=sa.text('active'), postgresql_where=sa.text('active'))
        batch_op.drop_column('summary')

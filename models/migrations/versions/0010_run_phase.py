"""Runs name their current phase beside progress: ``runs.phase``

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 22:40:00.000000

A dashboard shows "scoring" or "assigning" beside the progress bar instead of a bare
fraction. The column is free text of at most 32 characters, written by the worker as
each phase starts (``api.services.runs.execution``); NULL for runs made before it.
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phase', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('phase')

"""Runs may be cancelled: 'cancelled' joins the run status vocabulary

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-28 10:00:00.000000

``POST .../runs/{rid}/cancel`` ends a queued or running run as ``cancelled``: a status
of its own rather than ``failed``, so that a client tells an admin's decision from a
fault. The CHECK constraint of 0002 is replaced (SQLite: batch mode rebuilds
``runs``, ``models.migrate`` keeping foreign keys off meanwhile). The downgrade turns
cancelled runs into failed ones first, or the old constraint would refuse them.
"""

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

OLD = "status IN ('queued', 'running', 'succeeded', 'failed')"
NEW = "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')"


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_runs_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_runs_status'), NEW)


def downgrade() -> None:
    op.execute(
        "UPDATE runs SET status = 'failed', error = COALESCE(error, 'cancelled by an admin') "
        "WHERE status = 'cancelled'"
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_runs_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_runs_status'), OLD)

"""CHECK constraints for the closed vocabularies (models/vocabulary.py)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-14 10:00:00.000000

The values are written out rather than imported from ``models.vocabulary``: a
migration is a snapshot, and a new member needs a migration of its own that
replaces the constraint. Stored values are unchanged. SQLite cannot add a
constraint to a table, so batch mode rebuilds each table (``models.migrate``
turns foreign-key enforcement off around it, or dropping the old table would
cascade to the rows that point at it).
"""

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_runs_status'), "status IN ('queued', 'running', 'succeeded', 'failed')")
        batch_op.create_check_constraint(op.f('ck_runs_scope'), "scope IN ('all', 'unmatched')")
        batch_op.create_check_constraint(op.f('ck_runs_objective'), "objective IN ('total', 'coverage', 'fair', 'stable')")

    with op.batch_alter_table('matches', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_matches_status'), "status IN ('proposed', 'published', 'rejected', 'ended')")

    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_participants_role'), "role IN ('mentor', 'mentee')")

    with op.batch_alter_table('weights_versions', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_weights_versions_source'), "source IN ('prior', 'learned')")


def downgrade() -> None:
    with op.batch_alter_table('weights_versions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_weights_versions_source'), type_='check')

    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_participants_role'), type_='check')

    with op.batch_alter_table('matches', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_matches_status'), type_='check')

    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_runs_objective'), type_='check')
        batch_op.drop_constraint(op.f('ck_runs_scope'), type_='check')
        batch_op.drop_constraint(op.f('ck_runs_status'), type_='check')

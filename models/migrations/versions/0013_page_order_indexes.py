"""Pages read in their order from an index: (program, created_at, id) on participants and
matches, (run, created_at, id) on matches

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 20:05:00.000000

A page of a program's participants or matches, or of a run's proposals, is keyset
paged by ``(created_at, id)`` (``api.services.pagination``). Without an index in that
order, PostgreSQL read every row of the program and sorted them to return 51: for a
program of 3,000 mentees and 1,000 mentors, 1.1 ms a page of participants and 0.7 ms a
page of its 1,747 matches (EXPLAIN ANALYZE), growing with the program; with these
indexes 0.04-0.05 ms whatever its size. The run's index replaces ``ix_matches_run``
(its first column: lookups by run, the cascade from a run included, use it as before),
so a run's insert of its proposals maintains one index more than before, not two.

Building an index locks the table against writes meanwhile (seconds for millions of
rows): run it when no run is being saved.
"""

from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        'ix_participants_program_created',
        'participants',
        ['program_id', 'created_at', 'id'],
        unique=False,
    )
    op.create_index(
        'ix_matches_program_created', 'matches', ['program_id', 'created_at', 'id'], unique=False
    )
    op.create_index('ix_matches_run_created', 'matches', ['run_id', 'created_at', 'id'], unique=False)
    op.drop_index('ix_matches_run', table_name='matches')


def downgrade() -> None:
    op.create_index('ix_matches_run', 'matches', ['run_id'], unique=False)
    op.drop_index('ix_matches_run_created', table_name='matches')
    op.drop_index('ix_matches_program_created', table_name='matches')
    op.drop_index('ix_participants_program_created', table_name='participants')

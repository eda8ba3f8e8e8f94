"""Keyed audit chain: audit_events.scheme, and no TRUNCATE of audit_events on PostgreSQL

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-24 10:00:00.000000

``audit_events.scheme`` says how each row's hash was computed: 1, plain SHA-256, for
every row written before (the server default, so existing rows keep verifying); 2,
HMAC-SHA-256 with the service's audit key (``MENTORMATCH_AUDIT_KEY``), for rows
written from now on. ``organizations.audit_keyed_from`` and ``audit_seal`` hold
where an organization's keyed chain starts and that boundary's HMAC; both stay
null until the service seals the organization with its key (at start-up, or its
next event). On PostgreSQL a statement-level trigger refuses ``TRUNCATE
audit_events`` (the row trigger of 0001 never sees a TRUNCATE), including the
``TRUNCATE ... CASCADE`` of a referencing table.
"""

from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scheme', sa.Integer(), server_default=sa.text('1'), nullable=False))
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audit_keyed_from', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('audit_seal', sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_events_no_truncate() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit_events is append-only (TRUNCATE refused)';
            END
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            """
            CREATE TRIGGER audit_events_no_truncate
            BEFORE TRUNCATE ON audit_events
            FOR EACH STATEMENT EXECUTE FUNCTION audit_events_no_truncate()
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_no_truncate()")
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('audit_seal')
        batch_op.drop_column('audit_keyed_from')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('scheme')

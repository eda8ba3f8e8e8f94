"""Mentees take several mentors: their published load, and a pair published once

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 23:00:00.000000

A mentee with ``capacity`` k holds up to k published matches (issue 13). Publication
keeps the mentee side as it keeps the mentor side: ``participants.published_load``
grows by a conditional UPDATE (``published_load + n <= capacity``). So that

- mentees' ``published_load`` is backfilled from their published matches (it was 0:
  only mentors' was kept);
- the partial unique index ``uq_matches_one_published_per_mentee`` (one published
  match per mentee) becomes ``uq_matches_one_published_per_pair`` on (mentee_id,
  mentor_id): a pair is published at most once, whoever publishes concurrently.

The downgrade refuses while a mentee holds more than one published match (the old
index could not be built; end those matches first), then puts mentees' load back
to 0 as the old code kept it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

PUBLISHED = sa.text("status = 'published'")


def upgrade() -> None:
    op.execute(
        "UPDATE participants SET published_load = ("
        "SELECT count(*) FROM matches WHERE matches.mentee_id = participants.id "
        "AND matches.status = 'published') WHERE role = 'mentee'"
    )
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_matches_one_published_per_mentee",
            sqlite_where=PUBLISHED,
            postgresql_where=PUBLISHED,
        )
        batch_op.create_index(
            "uq_matches_one_published_per_pair",
            ["mentee_id", "mentor_id"],
            unique=True,
            sqlite_where=PUBLISHED,
            postgresql_where=PUBLISHED,
        )


def downgrade() -> None:
    several = op.get_bind().scalar(
        sa.text(
            "SELECT count(*) FROM (SELECT mentee_id FROM matches WHERE status = 'published' "
            "GROUP BY mentee_id HAVING count(*) > 1) AS several"
        )
    )
    if several:
        raise RuntimeError(
            f"{several} mentee(s) hold more than one published match: end the extra "
            "matches before downgrading below 0011 (one published match per mentee)"
        )
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_matches_one_published_per_pair",
            sqlite_where=PUBLISHED,
            postgresql_where=PUBLISHED,
        )
        batch_op.create_index(
            "uq_matches_one_published_per_mentee",
            ["mentee_id"],
            unique=True,
            sqlite_where=PUBLISHED,
            postgresql_where=PUBLISHED,
        )
    op.execute("UPDATE participants SET published_load = 0 WHERE role = 'mentee'")

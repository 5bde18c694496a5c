"""a digest of each person's relations, so that apply rewrites only the relations that changed

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # None for the people stored before: their relations are rewritten the next time they change, as before
    for table in ("person", "stage_person"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("relations_digest", sa.String(32), nullable=True))
    with op.batch_alter_table("plan_change", schema=None) as batch_op:
        batch_op.add_column(sa.Column("relations", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plan_change", schema=None) as batch_op:
        batch_op.drop_column("relations")
    for table in ("person", "stage_person"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("relations_digest")

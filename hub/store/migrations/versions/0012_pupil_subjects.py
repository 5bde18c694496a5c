"""pupils' subjects (options) from the directory

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


TABLES = ("enrollment", "stage_enrollment")


def upgrade() -> None:
    # the subject codes a pupil follows (AAF ENTEleveCodeEnseignements), for GAREleveEnseignement
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("subjects", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("subjects")

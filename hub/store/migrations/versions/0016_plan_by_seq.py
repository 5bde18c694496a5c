"""plan rows found by the staged row's seq: applying a run, each staged relation (a class, a parent)
reaches its person's plan row, whose id it takes, without a scan of the run's plan

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_plan_change_run_seq", "plan_change", ["run_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_plan_change_run_seq", "plan_change")

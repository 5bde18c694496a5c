"""staging tables tuned for bulk loads: UNLOGGED on PostgreSQL

A run's stage_* and plan_change rows live only while the run does (a held or dry run's plan
until the source's next run): they need no write-ahead log. Unlogged, PostgreSQL loads them
without writing every row twice; after a crash of the server it empties them, which only a
run in progress (marked interrupted, run again) or a plan kept for review would notice.
SQLite has no such mode: nothing changes there.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# the stage_* tables and plan_change of hub/store/tables.py as of this revision
TABLES = (
    "stage_establishment",
    "stage_group",
    "stage_person",
    "stage_enrollment",
    "stage_membership",
    "stage_guardianship",
    "stage_assignment",
    "stage_function",
    "stage_nomenclature",
    "stage_deletion",
    "stage_rejected",
    "plan_change",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} SET UNLOGGED")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} SET LOGGED")

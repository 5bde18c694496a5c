"""continuity: establishments' school year, archived groups, group kinds in the plan

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

import hub.store.tables

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('establishment') as batch_op:
        batch_op.add_column(sa.Column('school_year', sa.Integer(), nullable=True))
    with op.batch_alter_table('study_group') as batch_op:
        batch_op.add_column(sa.Column('archived_at', hub.store.tables.UTCDateTime(), nullable=True))
    with op.batch_alter_table('plan_change') as batch_op:
        batch_op.add_column(sa.Column('group_kind', sa.String(length=20), nullable=True))
        batch_op.create_index('ix_plan_change_run_key', ['run_id', 'key'], unique=False)
    # a store already loaded is at the newest year its enrollments carry
    op.execute("UPDATE establishment SET school_year = (SELECT max(e.school_year) FROM enrollment e "
               "WHERE e.uai = establishment.uai)")


def downgrade() -> None:
    with op.batch_alter_table('plan_change') as batch_op:
        batch_op.drop_index('ix_plan_change_run_key')
        batch_op.drop_column('group_kind')
    with op.batch_alter_table('study_group') as batch_op:
        batch_op.drop_column('archived_at')
    with op.batch_alter_table('establishment') as batch_op:
        batch_op.drop_column('school_year')

"""target contract: target links, change scopes, wider change keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

import hub.store.tables

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('target_link',
    sa.Column('target', sa.String(length=50), nullable=False),
    sa.Column('entity', sa.String(length=20), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('remote_id', sa.String(length=255), nullable=False),
    sa.Column('updated_at', hub.store.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('target', 'entity', 'key', name=op.f('pk_target_link'))
    )
    with op.batch_alter_table('plan_change') as batch_op:
        batch_op.alter_column('key', type_=sa.String(length=300), existing_type=sa.String(length=80))
        batch_op.add_column(sa.Column('person_kind', sa.String(length=20), nullable=True))
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.alter_column('key', type_=sa.String(length=300), existing_type=sa.String(length=80))
        batch_op.alter_column('idempotency_key', type_=sa.String(length=400), existing_type=sa.String(length=120))
        batch_op.add_column(sa.Column('uai', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('old_uai', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.drop_column('old_uai')
        batch_op.drop_column('uai')
        batch_op.alter_column('idempotency_key', type_=sa.String(length=120), existing_type=sa.String(length=400))
        batch_op.alter_column('key', type_=sa.String(length=80), existing_type=sa.String(length=300))
    with op.batch_alter_table('plan_change') as batch_op:
        batch_op.drop_column('person_kind')
        batch_op.alter_column('key', type_=sa.String(length=80), existing_type=sa.String(length=300))
    op.drop_table('target_link')

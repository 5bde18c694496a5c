"""delivery workers: claims on outbox rows, and the host of each run

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

import hub.store.tables

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('claimed_by', sa.String(length=300), nullable=True))
        batch.add_column(sa.Column('claimed_until', hub.store.tables.UTCDateTime(), nullable=True))
    op.create_index(op.f('ix_outbox_pending'), 'outbox', ['id'], unique=False, postgresql_where=PENDING,
                    sqlite_where=PENDING)
    op.create_index(op.f('ix_outbox_claimed_until'), 'outbox', ['claimed_until'], unique=False)
    with op.batch_alter_table('run') as batch:
        batch.add_column(sa.Column('host', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('run') as batch:
        batch.drop_column('host')
    op.drop_index(op.f('ix_outbox_claimed_until'), table_name='outbox')
    op.drop_index(op.f('ix_outbox_pending'), table_name='outbox')
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('claimed_until')
        batch.drop_column('claimed_by')

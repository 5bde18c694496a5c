"""console: live progress and the options of held runs; room for encrypted TOTP secrets; login indexes for
the indicators

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('run') as batch:
        batch.add_column(sa.Column('phase', sa.String(length=40), nullable=True))
        batch.add_column(sa.Column('options', sa.JSON(), nullable=True))
    with op.batch_alter_table('admin_user') as batch:
        batch.alter_column('totp_secret', existing_type=sa.String(length=64), type_=sa.String(length=200),
                           existing_nullable=True)
    op.drop_index('ix_login_event_at', table_name='login_event')
    op.create_index('ix_login_event_window', 'login_event', ['at', 'person_key', 'uai', 'profile'])
    op.create_index('ix_login_event_person_key', 'login_event', ['person_key'])
    op.drop_index('ix_login_event_uai_at', table_name='login_event')
    op.create_index('ix_login_event_uai_at', 'login_event', ['uai', 'at', 'profile', 'person_key'])


def downgrade() -> None:
    op.drop_index('ix_login_event_uai_at', table_name='login_event')
    op.create_index('ix_login_event_uai_at', 'login_event', ['uai', 'at'])
    op.drop_index('ix_login_event_person_key', table_name='login_event')
    op.drop_index('ix_login_event_window', table_name='login_event')
    op.create_index('ix_login_event_at', 'login_event', ['at'])
    with op.batch_alter_table('admin_user') as batch:
        batch.alter_column('totp_secret', existing_type=sa.String(length=200), type_=sa.String(length=64),
                           existing_nullable=True)
    with op.batch_alter_table('run') as batch:
        batch.drop_column('options')
        batch.drop_column('phase')

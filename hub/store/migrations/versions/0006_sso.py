"""SSO broker: account links, sessions, login events, OIDC/CAS grants

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import hub.store.tables  # noqa: F401

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_event',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', hub.store.tables.UTCDateTime(), nullable=False),
    sa.Column('person_key', sa.String(length=300), nullable=False),
    sa.Column('uai', sa.String(length=8), nullable=True),
    sa.Column('profile', sa.String(length=20), nullable=False),
    sa.Column('client_id', sa.String(length=100), nullable=False),
    sa.Column('idp', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_event'))
    )
    op.create_index('ix_login_event_at', 'login_event', ['at'])
    op.create_index('ix_login_event_uai_at', 'login_event', ['uai', 'at'])


def downgrade() -> None:
    op.drop_index('ix_login_event_uai_at', table_name='login_event')
    op.drop_index('ix_login_event_at', table_name='login_event')
    op.drop_table('login_event')

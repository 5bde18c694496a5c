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
    op.create_table('account_link',
    sa.Column('idp', sa.String(length=100), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('person_key', sa.String(length=80), nullable=False),
    sa.Column('how', sa.String(length=40), nullable=False),
    sa.Column('linked_at', hub.store.tables.UTCDateTime(), nullable=False),
    sa.Column('last_login_at', hub.store.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('idp', 'subject', name=op.f('pk_account_link'))
    )
    op.create_index(op.f('ix_account_link_person_key'), 'account_link', ['person_key'])
    op.create_table('sso_entry',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('expires_at', hub.store.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_sso_entry'))
    )
    op.create_index(op.f('ix_sso_entry_expires_at'), 'sso_entry', ['expires_at'])
    op.create_table('oidc_refresh_token',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=100), nullable=False),
    sa.Column('person_key', sa.String(length=80), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('idp', sa.String(length=100), nullable=False),
    sa.Column('issued_at', hub.store.tables.UTCDateTime(), nullable=False),
    sa.Column('expires_at', hub.store.tables.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', hub.store.tables.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_oidc_refresh_token'))
    )
    op.create_index(op.f('ix_oidc_refresh_token_person_key'), 'oidc_refresh_token', ['person_key'])


def downgrade() -> None:
    op.drop_index(op.f('ix_oidc_refresh_token_person_key'), table_name='oidc_refresh_token')
    op.drop_table('oidc_refresh_token')
    op.drop_index(op.f('ix_sso_entry_expires_at'), table_name='sso_entry')
    op.drop_table('sso_entry')
    op.drop_index(op.f('ix_account_link_person_key'), table_name='account_link')
    op.drop_table('account_link')
    op.drop_index('ix_login_event_uai_at', table_name='login_event')
    op.drop_index('ix_login_event_at', table_name='login_event')
    op.drop_table('login_event')

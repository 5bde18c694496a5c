"""helpdesk: tickets, their causes, establishments' zones and territorial units

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

import hub.store.tables

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('helpdesk_zone',
    sa.Column('uai', sa.String(length=8), nullable=False),
    sa.Column('za_taken_over', sa.Boolean(), nullable=False),
    sa.Column('cite_mixte', sa.Boolean(), nullable=False),
    sa.Column('territorial_unit', sa.String(length=20), nullable=True),
    sa.Column('updated_at', hub.store.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('uai', name=op.f('pk_helpdesk_zone'))
    )
    op.create_table('ticket',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('cause', sa.String(length=200), nullable=True),
    sa.Column('destination', sa.String(length=50), nullable=False),
    sa.Column('rule', sa.String(length=100), nullable=False),
    sa.Column('domain', sa.String(length=10), nullable=False),
    sa.Column('uai', sa.String(length=8), nullable=True),
    sa.Column('reporter', sa.String(length=200), nullable=False),
    sa.Column('requester', sa.String(length=200), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('urgency', sa.Integer(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('remote_id', sa.String(length=50), nullable=True),
    sa.Column('remote_status', sa.String(length=20), nullable=True),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('seen', sa.JSON(), nullable=False),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('created_at', hub.store.tables.UTCDateTime(), nullable=False),
    sa.Column('updated_at', hub.store.tables.UTCDateTime(), nullable=False),
    sa.Column('resolved_at', hub.store.tables.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket')),
    sa.UniqueConstraint('reference', name=op.f('uq_ticket_reference'))
    )
    op.create_index('ix_ticket_cause_state', 'ticket', ['cause', 'state'])
    op.create_table('ticket_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', hub.store.tables.UTCDateTime(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', hub.store.tables.UTCDateTime(), nullable=False),
    sa.Column('done_at', hub.store.tables.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_ticket_request_ticket_id_ticket'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_request'))
    )
    op.create_index(op.f('ix_ticket_request_ticket_id'), 'ticket_request', ['ticket_id'])
    op.create_index('ix_ticket_request_due', 'ticket_request', ['status', 'next_attempt_at'])


def downgrade() -> None:
    op.drop_index('ix_ticket_request_due', table_name='ticket_request')
    op.drop_index(op.f('ix_ticket_request_ticket_id'), table_name='ticket_request')
    op.drop_table('ticket_request')
    op.drop_index('ix_ticket_cause_state', table_name='ticket')
    op.drop_table('ticket')
    op.drop_table('helpdesk_zone')

"""GAR feed: what each delivery sent (for Delta) and the opaque GAR ids

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

import hub.store.tables

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gar_person',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('gar_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', hub.store.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_gar_person_person_id_person'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_id', name=op.f('pk_gar_person')),
    sa.UniqueConstraint('gar_id', name=op.f('uq_gar_person_gar_id'))
    )
    op.create_table('gar_sent',
    sa.Column('uai', sa.String(length=8), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=32), nullable=True),
    sa.Column('pending', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_gar_sent_person_id_person'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('uai', 'person_id', name=op.f('pk_gar_sent'))
    )
    op.create_index(op.f('ix_gar_sent_person_id'), 'gar_sent', ['person_id'], unique=False)
    op.create_index('ix_person_function_uai', 'person_function', ['uai'], unique=False)
    op.create_index('ix_teaching_assignment_uai', 'teaching_assignment', ['uai'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_teaching_assignment_uai', table_name='teaching_assignment')
    op.drop_index('ix_person_function_uai', table_name='person_function')
    op.drop_index(op.f('ix_gar_sent_person_id'), table_name='gar_sent')
    op.drop_table('gar_sent')
    op.drop_table('gar_person')

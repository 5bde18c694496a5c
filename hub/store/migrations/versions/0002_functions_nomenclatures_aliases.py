"""functions, professeur principal, nomenclatures, pseudo-structures, person aliases, key changes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

import hub.store.tables

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    false = sa.false()
    with op.batch_alter_table('establishment') as batch_op:
        batch_op.add_column(sa.Column('pseudo', sa.Boolean(), nullable=False, server_default=false))
    with op.batch_alter_table('stage_establishment') as batch_op:
        batch_op.add_column(sa.Column('pseudo', sa.Boolean(), nullable=False, server_default=false))
    with op.batch_alter_table('teaching_assignment') as batch_op:
        batch_op.add_column(sa.Column('principal', sa.Boolean(), nullable=False, server_default=false))
    with op.batch_alter_table('stage_assignment') as batch_op:
        batch_op.add_column(sa.Column('principal', sa.Boolean(), nullable=False, server_default=false))
    with op.batch_alter_table('stage_person') as batch_op:
        batch_op.add_column(sa.Column('new_key', sa.String(length=80), nullable=True))
    with op.batch_alter_table('source_state') as batch_op:
        batch_op.alter_column('cursor', type_=sa.Text(), existing_type=sa.String(length=200))

    op.create_table('person_function',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('uai', sa.String(length=8), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('discipline', sa.String(length=60), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_person_function_person_id_person'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person_function'))
    )
    op.create_index(op.f('ix_person_function_person_id'), 'person_function', ['person_id'], unique=False)
    op.create_table('stage_function',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('uai', sa.String(length=8), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('discipline', sa.String(length=60), nullable=False)
    )
    op.create_index('ix_stage_function_run_seq', 'stage_function', ['run_id', 'seq'], unique=False)
    op.create_table('nomenclature',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('label', sa.String(length=255), nullable=False),
    sa.Column('national_code', sa.String(length=60), nullable=False),
    sa.Column('niveau', sa.String(length=120), nullable=False),
    sa.Column('filiere', sa.String(length=120), nullable=False),
    sa.Column('source', sa.String(length=50), nullable=False),
    sa.Column('digest', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nomenclature')),
    sa.UniqueConstraint('kind', 'code', name='uq_nomenclature_kind_code')
    )
    op.create_table('stage_nomenclature',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=50), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('label', sa.String(length=255), nullable=False),
    sa.Column('national_code', sa.String(length=60), nullable=False),
    sa.Column('niveau', sa.String(length=120), nullable=False),
    sa.Column('filiere', sa.String(length=120), nullable=False),
    sa.Column('digest', sa.String(length=32), nullable=False)
    )
    op.create_index(op.f('ix_stage_nomenclature_run_id'), 'stage_nomenclature', ['run_id'], unique=False)
    op.create_table('person_alias',
    sa.Column('alias_key', sa.String(length=80), nullable=False),
    sa.Column('person_key', sa.String(length=80), nullable=False),
    sa.Column('linked_at', hub.store.tables.UTCDateTime(), nullable=False),
    sa.Column('linked_by', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('alias_key', name=op.f('pk_person_alias'))
    )
    op.create_index(op.f('ix_person_alias_person_key'), 'person_alias', ['person_key'], unique=False)


def downgrade() -> None:
    for table in ('person_alias', 'stage_nomenclature', 'nomenclature', 'stage_function', 'person_function'):
        op.drop_table(table)
    with op.batch_alter_table('source_state') as batch_op:
        batch_op.alter_column('cursor', type_=sa.String(length=200), existing_type=sa.Text())
    for table, column in (('stage_person', 'new_key'), ('stage_assignment', 'principal'),
                          ('teaching_assignment', 'principal'), ('stage_establishment', 'pseudo'),
                          ('establishment', 'pseudo')):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column(column)

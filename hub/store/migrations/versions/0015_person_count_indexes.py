"""people indexed by (uai, kind, status), and pupils without an INE apart: the counts a run checks its
limits against, and "is any pupil stored without an INE?", read an index instead of every person (the
INE index leaves out the people without one, or the planners take it for that question)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

PUPIL_WITHOUT_INE = "kind = 'eleve' AND ine IS NULL"
HAS_INE = "ine IS NOT NULL"


def upgrade() -> None:
    op.create_index("ix_person_uai_kind_status", "person", ["uai", "kind", "status"])
    op.drop_index("ix_person_uai", "person")
    op.drop_index("ix_person_ine", "person")
    op.create_index("ix_person_ine", "person", ["ine"], postgresql_where=sa.text(HAS_INE), sqlite_where=sa.text(HAS_INE))
    op.create_index("ix_person_pupil_without_ine", "person", ["id"], postgresql_where=sa.text(PUPIL_WITHOUT_INE),
                    sqlite_where=sa.text(PUPIL_WITHOUT_INE))


def downgrade() -> None:
    op.drop_index("ix_person_pupil_without_ine", "person")
    op.drop_index("ix_person_ine", "person")
    op.create_index("ix_person_ine", "person", ["ine"])
    op.create_index("ix_person_uai", "person", ["uai"])
    op.drop_index("ix_person_uai_kind_status", "person")

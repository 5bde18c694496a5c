"""sso: logout and token purge

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the broker session a refresh token was issued in: its logout revokes the ones without offline_access
    with op.batch_alter_table("oidc_refresh_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sid", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_oidc_refresh_token_sid"), ["sid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oidc_refresh_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_refresh_token_sid"))
        batch_op.drop_column("sid")

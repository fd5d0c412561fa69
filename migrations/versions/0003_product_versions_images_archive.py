"""products: version (optimistic edits), archived_at, image

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('products') as batch:
        batch.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
        batch.add_column(sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('image', sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('products') as batch:
        batch.drop_column('image')
        batch.drop_column('archived_at')
        batch.drop_column('version')

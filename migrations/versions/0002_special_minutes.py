"""audience samples per special and minute (figures)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('special_minutes',
    sa.Column('special_id', sa.Integer(), nullable=False),
    sa.Column('minute', sa.DateTime(timezone=True), nullable=False),
    sa.Column('peak_viewers', sa.Integer(), nullable=False),
    sa.Column('likes', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['special_id'], ['specials.id'], name=op.f('fk_special_minutes_special_id_specials'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('special_id', 'minute', name=op.f('pk_special_minutes'))
    )


def downgrade() -> None:
    op.drop_table('special_minutes')

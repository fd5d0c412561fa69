"""show_moments: product pins of a special with their times (for the shoppable replay)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'show_moments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('special_id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=True),
        sa.Column('message_id', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ['special_id'],
            ['specials.id'],
            name=op.f('fk_show_moments_special_id_specials'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_show_moments')),
    )
    op.create_index('ix_show_moments_special_id_at', 'show_moments', ['special_id', 'at'])


def downgrade() -> None:
    op.drop_index('ix_show_moments_special_id_at', 'show_moments')
    op.drop_table('show_moments')

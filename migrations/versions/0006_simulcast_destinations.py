"""simulcast_destinations: RTMP(S) ingests per partner platform or per special

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'simulcast_destinations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('platform_id', sa.Integer(), nullable=True),
        sa.Column('special_id', sa.Integer(), nullable=True),
        sa.Column('url', sa.String(length=300), nullable=False),
        sa.Column('key_cipher', sa.Text(), nullable=False),
        sa.Column('key_tail', sa.String(length=4), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            'platform_id IS NOT NULL OR special_id IS NOT NULL',
            name=op.f('ck_simulcast_destinations_platform_or_special'),
        ),
        sa.ForeignKeyConstraint(
            ['platform_id'],
            ['platforms.id'],
            name=op.f('fk_simulcast_destinations_platform_id_platforms'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['special_id'],
            ['specials.id'],
            name=op.f('fk_simulcast_destinations_special_id_specials'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_simulcast_destinations')),
    )
    op.create_index(
        op.f('ix_simulcast_destinations_platform_id'), 'simulcast_destinations', ['platform_id']
    )
    op.create_index(
        op.f('ix_simulcast_destinations_special_id'), 'simulcast_destinations', ['special_id']
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_simulcast_destinations_special_id'), 'simulcast_destinations')
    op.drop_index(op.f('ix_simulcast_destinations_platform_id'), 'simulcast_destinations')
    op.drop_table('simulcast_destinations')

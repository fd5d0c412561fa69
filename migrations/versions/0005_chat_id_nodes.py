"""chat id nodes leased in the database

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 19:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NODES = 64


def upgrade() -> None:
    table = op.create_table(
        "chat_id_nodes",
        sa.Column("node", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(length=32), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_chat_id_nodes")),
    )
    op.bulk_insert(table, [{"node": n, "holder": "", "expires_ms": 0} for n in range(NODES)])


def downgrade() -> None:
    op.drop_table("chat_id_nodes")

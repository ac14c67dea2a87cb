"""golive: connection states and alerts

Revision ID: 0003_golive
Revises: 0002
Create Date: 2026-12-01 20:20:37.787501
"""
from alembic import op
import sqlalchemy as sa
import bridge.store.tables


revision = '0003_golive'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('announced_state', sa.String(length=16), nullable=True))

    with op.batch_alter_table('rejection_counts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rejection_counts', schema=None) as batch_op:
        batch_op.drop_column('last_at')

    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.drop_column('announced_state')


"""reconcile runs, vendor token rejection

Revision ID: 0005_reconcile
Revises: 0004_claims
Create Date: 2026-12-01 20:22:35
"""
from alembic import op
import sqlalchemy as sa
import bridge.store.tables


revision = '0005_reconcile'
down_revision = '0004_claims'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('reconcile_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('connection_id', sa.String(length=40), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('since', bridge.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('until', bridge.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cursor', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('seen', sa.Integer(), nullable=False),
    sa.Column('known', sa.Integer(), nullable=False),
    sa.Column('new', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('started_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_reconcile_runs_connection_id_connections')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconcile_runs'))
    )
    with op.batch_alter_table('reconcile_runs', schema=None) as batch_op:
        batch_op.create_index('ix_reconcile_runs_connection_id', ['connection_id', 'id'], unique=False)

    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vendor_token_rejected_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('vendor_token_rejection', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('reconcile_lease_until', bridge.store.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reconcile_enqueued_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.drop_column('reconcile_enqueued_at')
        batch_op.drop_column('reconcile_lease_until')
        batch_op.drop_column('vendor_token_rejection')
        batch_op.drop_column('vendor_token_rejected_at')

    with op.batch_alter_table('reconcile_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_reconcile_runs_connection_id')

    op.drop_table('reconcile_runs')

"""receipt claims: what a receipt shows on each transaction, claim attempts, claim slugs

Revision ID: 0004_claims
Revises: 0003_golive
Create Date: 2026-12-01 20:34:51.103731
"""
from alembic import op
import sqlalchemy as sa
import bridge.store.tables


revision = '0004_claims'
down_revision = '0003_golive'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('claims',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('connection_id', sa.String(length=40), nullable=False),
    sa.Column('transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('at', bridge.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.Column('receipt', sa.String(length=255), nullable=True),
    sa.Column('identity_kind', sa.String(length=16), nullable=True),
    sa.Column('identity', sa.String(length=320), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('prior_customer', sa.JSON(), nullable=True),
    sa.Column('settled_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_claims_connection_id_connections')),
    sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], name=op.f('fk_claims_transaction_id_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claims'))
    )
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.create_index('ix_claims_connection_at', ['connection_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_transaction_id'), ['transaction_id'], unique=False)

    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_slug', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_connections_claim_slug'), ['claim_slug'])

    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receipt_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('local_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('receipt_total_minor', sa.BigInteger(), nullable=True))
        batch_op.create_index('ix_transactions_receipt', ['connection_id', 'receipt_key', 'local_date'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_receipt')
        batch_op.drop_column('receipt_total_minor')
        batch_op.drop_column('local_date')
        batch_op.drop_column('receipt_key')

    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_connections_claim_slug'), type_='unique')
        batch_op.drop_column('claim_slug')

    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claims_transaction_id'))
        batch_op.drop_index('ix_claims_connection_at')

    op.drop_table('claims')

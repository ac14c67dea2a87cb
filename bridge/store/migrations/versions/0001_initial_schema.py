"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-12-01 17:33:33.598411
"""
from alembic import op
import sqlalchemy as sa
import bridge.store.tables


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('connections',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('vendor', sa.String(length=32), nullable=False),
    sa.Column('target_kind', sa.String(length=16), nullable=False),
    sa.Column('target_url', sa.Text(), nullable=False),
    sa.Column('target_key', sa.Text(), nullable=False),
    sa.Column('signing_keys', sa.Text(), nullable=False),
    sa.Column('vendor_token', sa.Text(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('status_changed_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connections'))
    )
    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('connection_id', sa.String(length=40), nullable=False),
    sa.Column('vendor', sa.String(length=32), nullable=False),
    sa.Column('vendor_event_id', sa.String(length=255), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=True),
    sa.Column('headers', sa.JSON(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('content_type', sa.String(length=200), nullable=True),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.Column('received_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_until', bridge.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('enqueued_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_events_connection_id_connections')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('connection_id', 'vendor_event_id', name='uq_events_connection_vendor_event')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_connection_received', ['connection_id', 'received_at'], unique=False)
        batch_op.create_index('ix_events_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_events_status_received', ['status', 'received_at'], unique=False)

    op.create_table('transactions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('connection_id', sa.String(length=40), nullable=False),
    sa.Column('vendor', sa.String(length=32), nullable=False),
    sa.Column('source_id', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('occurred_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('customer_email', sa.String(length=320), nullable=True),
    sa.Column('customer_phone', sa.String(length=32), nullable=True),
    sa.Column('customer_barcode', sa.String(length=128), nullable=True),
    sa.Column('vendor_customer_id', sa.String(length=255), nullable=True),
    sa.Column('customer_name', sa.String(length=255), nullable=True),
    sa.Column('location_id', sa.String(length=255), nullable=True),
    sa.Column('location_name', sa.String(length=255), nullable=True),
    sa.Column('reference', sa.String(length=255), nullable=True),
    sa.Column('refund_of', sa.String(length=255), nullable=True),
    sa.Column('source_version', sa.BigInteger(), nullable=True),
    sa.Column('line_items', sa.JSON(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('first_attempt_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_until', bridge.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('enqueued_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('created_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_transactions_connection_id_connections')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transactions')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_transactions_idempotency_key'))
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('ix_transactions_connection_source', ['connection_id', 'source_id'], unique=False)
        batch_op.create_index('ix_transactions_due', ['status', 'next_attempt_at'], unique=False)

    op.create_table('attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('started_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response_excerpt', sa.Text(), nullable=True),
    sa.Column('error_class', sa.String(length=100), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], name=op.f('fk_attempts_transaction_id_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attempts'))
    )
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attempts_transaction_id'), ['transaction_id'], unique=False)

    op.create_table('event_transactions',
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_transactions_event_id_events')),
    sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], name=op.f('fk_event_transactions_transaction_id_transactions')),
    sa.PrimaryKeyConstraint('event_id', 'transaction_id', name=op.f('pk_event_transactions'))
    )
    with op.batch_alter_table('event_transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_transactions_transaction_id'), ['transaction_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('event_transactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_transactions_transaction_id'))

    op.drop_table('event_transactions')
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attempts_transaction_id'))

    op.drop_table('attempts')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_due')
        batch_op.drop_index('ix_transactions_connection_source')

    op.drop_table('transactions')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_status_received')
        batch_op.drop_index('ix_events_due')
        batch_op.drop_index('ix_events_connection_received')

    op.drop_table('events')
    op.drop_table('connections')

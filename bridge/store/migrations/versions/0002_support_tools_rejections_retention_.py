"""support tools, rejections, retention, loyalty customer ids

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 18:36:16.514793
"""
from alembic import op
import sqlalchemy as sa
import bridge.store.tables


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', bridge.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=50), nullable=False),
    sa.Column('subject_kind', sa.String(length=30), nullable=False),
    sa.Column('subject_id', sa.String(length=100), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_subject', ['subject_kind', 'subject_id'], unique=False)

    op.create_table('replay_jobs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_until', bridge.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('enqueued_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_replay_jobs'))
    )
    op.create_table('rejection_counts',
    sa.Column('connection_id', sa.String(length=40), nullable=False),
    sa.Column('hour', bridge.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_rejection_counts_connection_id_connections')),
    sa.PrimaryKeyConstraint('connection_id', 'hour', name=op.f('pk_rejection_counts'))
    )
    op.create_table('rejections',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('connection_id', sa.String(length=40), nullable=False),
    sa.Column('at', bridge.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('headers', sa.JSON(), nullable=False),
    sa.Column('body_size', sa.Integer(), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('body_excerpt', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_rejections_connection_id_connections')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rejections'))
    )
    with op.batch_alter_table('rejections', schema=None) as batch_op:
        batch_op.create_index('ix_rejections_connection_at', ['connection_id', 'at'], unique=False)

    op.create_table('replay_items',
    sa.Column('job_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('result', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_replay_items_event_id_events')),
    sa.ForeignKeyConstraint(['job_id'], ['replay_jobs.id'], name=op.f('fk_replay_items_job_id_replay_jobs')),
    sa.PrimaryKeyConstraint('job_id', 'event_id', name=op.f('pk_replay_items'))
    )
    with op.batch_alter_table('replay_items', schema=None) as batch_op:
        batch_op.create_index('ix_replay_items_job_state', ['job_id', 'state'], unique=False)

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replay_requested', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('body_purged_at', bridge.store.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.drop_index(batch_op.f('ix_events_connection_received'))
        batch_op.drop_index(batch_op.f('ix_events_status_received'))
        batch_op.create_index('ix_events_connection_id', ['connection_id', 'id'], unique=False)
        batch_op.create_index('ix_events_status_id', ['status', 'id'], unique=False)
        batch_op.create_index('ix_events_unpurged', ['body_purged_at', 'received_at'], unique=False)
        batch_op.create_index('ix_events_vendor_event_id', ['vendor_event_id'], unique=False)

    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('loyalty_customer_id', sa.String(length=255), nullable=True))
        batch_op.create_index('ix_transactions_email', ['customer_email'], unique=False)
        batch_op.create_index('ix_transactions_phone', ['customer_phone'], unique=False)
        batch_op.create_index('ix_transactions_reference', ['reference'], unique=False)
        batch_op.create_index('ix_transactions_source', ['source_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_source')
        batch_op.drop_index('ix_transactions_reference')
        batch_op.drop_index('ix_transactions_phone')
        batch_op.drop_index('ix_transactions_email')
        batch_op.drop_column('loyalty_customer_id')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_vendor_event_id')
        batch_op.drop_index('ix_events_unpurged')
        batch_op.drop_index('ix_events_status_id')
        batch_op.drop_index('ix_events_connection_id')
        batch_op.create_index(batch_op.f('ix_events_status_received'), ['status', 'received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_connection_received'), ['connection_id', 'received_at'], unique=False)
        batch_op.drop_column('body_purged_at')
        batch_op.drop_column('replay_requested')

    with op.batch_alter_table('replay_items', schema=None) as batch_op:
        batch_op.drop_index('ix_replay_items_job_state')

    op.drop_table('replay_items')
    with op.batch_alter_table('rejections', schema=None) as batch_op:
        batch_op.drop_index('ix_rejections_connection_at')

    op.drop_table('rejections')
    op.drop_table('rejection_counts')
    op.drop_table('replay_jobs')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_subject')

    op.drop_table('audit_log')

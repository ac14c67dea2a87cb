"""The store's tables. The database is the source of truth: the broker only
wakes workers up, and the sweeper re-finds anything due from these rows."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    JSON, false, BigInteger, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, MetaData,
    String, Text, TypeDecorator, UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# SQLite only autoincrements a column declared exactly INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Aware UTC in, aware UTC out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


class ConnectionRow(Base):
    __tablename__ = "connections"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    vendor: Mapped[str] = mapped_column(String(32))
    target_kind: Mapped[str] = mapped_column(String(16))
    target_url: Mapped[str] = mapped_column(Text)
    target_key: Mapped[str] = mapped_column(Text)  # sealed (bridge.store.sealing)
    signing_keys: Mapped[str] = mapped_column(Text)  # sealed JSON list, newest last
    vendor_token: Mapped[str | None] = mapped_column(Text)  # sealed
    currency: Mapped[str | None] = mapped_column(String(3))
    country: Mapped[str | None] = mapped_column(String(2))
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|paused|disabled
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The connection state (bridge.liveness) last announced to the operator's
    # alert webhook, so a restart does not announce it again.
    announced_state: Mapped[str | None] = mapped_column(String(16))
    # The public claim page's identifier (bridge.claims), never the id: the
    # webhook URL is a secret, the claim URL is printed on receipts.
    claim_slug: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Set when the vendor's API answered 401/403 to the vendor token: no
    # reconciliation asks it again until the token is rotated.
    vendor_token_rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    vendor_token_rejection: Mapped[str | None] = mapped_column(Text)
    # One reconciliation at a time per connection (compare-and-set).
    reconcile_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reconcile_enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventRow(Base):
    """A raw request exactly as received, and where its processing stands."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("connection_id", "vendor_event_id", name="uq_events_connection_vendor_event"),
        Index("ix_events_due", "status", "next_attempt_at"),
        # Lists are newest first by id: (filter, id) serves "the newest 100
        # failed" from the index alone, however many events are stored.
        Index("ix_events_connection_id", "connection_id", "id"),
        Index("ix_events_status_id", "status", "id"),
        Index("ix_events_vendor_event_id", "vendor_event_id"),
        # Retention: only events whose body is still here, oldest first.
        Index("ix_events_unpurged", "body_purged_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    vendor: Mapped[str] = mapped_column(String(32))
    vendor_event_id: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16), default="webhook")  # webhook|reconcile|test
    event_type: Mapped[str | None] = mapped_column(String(100))
    headers: Mapped[dict] = mapped_column(JSON, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str | None] = mapped_column(String(200))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # received -> (parsed) pending|delivered|skipped|unmatched|failed|paused
    status: Mapped[str] = mapped_column(String(16), default="received")
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # parse attempts
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by a replay: the next parse refreshes undelivered transactions from
    # today's connector code and sends them again (same idempotency keys).
    replay_requested: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Set when retention emptied the body and headers (the event row, its
    # transactions and attempts stay as the record of what happened).
    body_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    transactions: Mapped[list["TransactionRow"]] = relationship(
        secondary="event_transactions", back_populates="events", order_by="TransactionRow.id")


class TransactionRow(Base):
    """A canonical transaction and its delivery to the connection's loyalty core."""

    __tablename__ = "transactions"
    __table_args__ = (
        Index("ix_transactions_due", "status", "next_attempt_at"),
        Index("ix_transactions_connection_source", "connection_id", "source_id"),
        Index("ix_transactions_source", "source_id"),
        Index("ix_transactions_email", "customer_email"),
        Index("ix_transactions_phone", "customer_phone"),
        Index("ix_transactions_reference", "reference"),
        # A receipt claim is one lookup: the receipt number on that local date.
        Index("ix_transactions_receipt", "connection_id", "receipt_key", "local_date"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    vendor: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    customer_email: Mapped[str | None] = mapped_column(String(320))
    customer_phone: Mapped[str | None] = mapped_column(String(32))
    customer_barcode: Mapped[str | None] = mapped_column(String(128))
    vendor_customer_id: Mapped[str | None] = mapped_column(String(255))
    customer_name: Mapped[str | None] = mapped_column(String(255))
    loyalty_customer_id: Mapped[str | None] = mapped_column(String(255))
    location_id: Mapped[str | None] = mapped_column(String(255))
    location_name: Mapped[str | None] = mapped_column(String(255))
    reference: Mapped[str | None] = mapped_column(String(255))
    refund_of: Mapped[str | None] = mapped_column(String(255))
    source_version: Mapped[int | None] = mapped_column(BigInteger)
    # What a customer reads on the receipt (bridge.receipts): the receipt
    # identifier as typed (normalised `reference`), the store's local date of
    # the sale and the printed total, in minor units.
    receipt_key: Mapped[str | None] = mapped_column(String(64))
    local_date: Mapped[date | None] = mapped_column(Date)
    receipt_total_minor: Mapped[int | None] = mapped_column(BigInteger)
    line_items: Mapped[list] = mapped_column(JSON, default=list)
    extra: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    # pending|delivered|unmatched|failed|skipped|paused
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[dict | None] = mapped_column(JSON)  # what the core answered on success
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    events: Mapped[list[EventRow]] = relationship(
        secondary="event_transactions", back_populates="transactions", order_by="EventRow.id")


class EventTransactionRow(Base):
    __tablename__ = "event_transactions"

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id"), primary_key=True, index=True)


class AttemptRow(Base):
    """One POST to a loyalty core, whatever came of it."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    request: Mapped[dict] = mapped_column(JSON, default=dict)  # method, url, body; keys masked
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error_class: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16))  # delivered|retry|paused|unmatched|failed
    reason: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ClaimRow(Base):
    """One attempt to claim a sale from its receipt, whatever came of it.

    outcome: invalid | rate_limited | not_found | pending (delivering) |
    claimed | customer_unknown | revoked. The identity is kept here for
    support; logs only ever see it masked.
    """

    __tablename__ = "claims"
    __table_args__ = (Index("ix_claims_connection_at", "connection_id", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    receipt: Mapped[str | None] = mapped_column(String(255))
    identity_kind: Mapped[str | None] = mapped_column(String(16))  # email|phone|barcode
    identity: Mapped[str | None] = mapped_column(String(320))
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    # The sale's customer before the claim, restored if the core does not know
    # the claimant or support revokes the claim.
    prior_customer: Mapped[dict | None] = mapped_column(JSON)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RejectionRow(Base):
    """A request refused by signature verification, kept for support: what
    came in and why, never its secrets and never more than an excerpt of the
    body. Bounded per connection (bridge.rejections)."""

    __tablename__ = "rejections"
    __table_args__ = (Index("ix_rejections_connection_at", "connection_id", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict] = mapped_column(JSON, default=dict)  # secret values masked
    body_size: Mapped[int] = mapped_column(Integer)
    body_sha256: Mapped[str] = mapped_column(String(64))
    body_excerpt: Mapped[str | None] = mapped_column(Text)


class RejectionCountRow(Base):
    """Every refused request is counted, per connection and hour, even past
    the cap on stored rows: a flood costs one UPDATE a request."""

    __tablename__ = "rejection_counts"

    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    # The latest refusal counted in this hour, set by the same UPDATE as the
    # count (stored rows stop at the cap; this never does).
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditRow(Base):
    """Who did what to which object, for the actions support staff take."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_subject", "subject_kind", "subject_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    subject_kind: Mapped[str] = mapped_column(String(30))
    subject_id: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class ReplayJobRow(Base):
    """A bulk replay: the events matching a filter, replayed by the workers."""

    __tablename__ = "replay_jobs"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running|cancelled|finished
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReplayItemRow(Base):
    """One event of a bulk replay; `state` pending → done | failed | cancelled."""

    __tablename__ = "replay_items"
    __table_args__ = (Index("ix_replay_items_job_state", "job_id", "state"),)

    job_id: Mapped[int] = mapped_column(ForeignKey("replay_jobs.id"), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    result: Mapped[str | None] = mapped_column(Text)


class ReconcileRunRow(Base):
    """One reconciliation of a connection: its window, how far it got (the
    connector's cursor, saved after every page) and what it found. A run that
    stopped half-way is resumed from its cursor, over the same window."""

    __tablename__ = "reconcile_runs"
    __table_args__ = (Index("ix_reconcile_runs_connection_id", "connection_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    trigger: Mapped[str] = mapped_column(String(16))  # schedule|cli
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    cursor: Mapped[str | None] = mapped_column(Text)
    # running -> finished | stopped (an API error it could not get past; resumed later)
    status: Mapped[str] = mapped_column(String(16), default="running")
    reason: Mapped[str | None] = mapped_column(Text)
    seen: Mapped[int] = mapped_column(Integer, default=0)
    known: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


metadata = Base.metadata

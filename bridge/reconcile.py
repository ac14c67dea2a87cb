"""Reconciliation: the sales a vendor's API lists that no webhook brought.

A run pages through the connector's `reconcile_page` for a window, and for
every sale listed decides: already known (its event is stored, or every
transaction it parses to already exists under its idempotency key), skipped
(the connector's own parse says it awards nothing: open, parked…), or new.
A new sale is stored as an event with `source = "reconcile"` and its API JSON
as the body, and from there takes the webhook's path: the same parse, the
same idempotency keys, the same delivery. So a sale is never awarded twice,
whichever of the webhook and the reconciliation comes first: the unique
idempotency key on transactions decides, as it does for two webhooks.

The run's cursor is saved after every page (`reconcile_runs`), so a run that
stops half-way (a crash, a 429 it could not wait out, a deploy) resumes from
there over the same window.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import select, update

from bridge import connections, registry
from bridge.buckets import Buckets, Rate
from bridge.contract import (
    ConnectionContext,
    Connector,
    InboundRequest,
    ReconcilePage,
    ReconcileWindow,
    VendorSale,
)
from bridge.dispatch import Dispatcher, NullDispatcher
from bridge.errors import (
    BridgeError,
    PayloadError,
    ReconcileUnavailable,
    VendorAPIUnavailable,
    VendorTokenRejected,
)
from bridge.inbox import store_events
from bridge.store import Database
from bridge.store.tables import (
    ConnectionRow,
    EventRow,
    ReconcileRunRow,
    TransactionRow,
    utcnow,
)

log = logging.getLogger("bridge.reconcile")
LEASE = timedelta(minutes=5)
ATTEMPTS = 5  # per page: the first try and four retries
BACKOFF_SECONDS = (1.0, 2.0, 4.0, 8.0)
MAX_WAIT_SECONDS = 60.0  # a longer Retry-After stops the run; the next one resumes from the cursor
ROTATE_VENDOR = "bridge connections rotate-key {id} --vendor-token TOKEN"
# One bucket per connection and process: the connector's requests per second.
_pace = Buckets()


@dataclass
class Counts:
    seen: int = 0
    known: int = 0
    new: int = 0
    skipped: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"seen": self.seen, "known": self.known, "new": self.new,
                "skipped": self.skipped, "errors": self.errors}


@dataclass
class Result:
    connection_id: str
    window: ReconcileWindow
    counts: Counts = field(default_factory=Counts)
    status: str = "running"  # finished | stopped
    reason: str | None = None
    run_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"connection_id": self.connection_id, "since": self.window.since.isoformat(),
                "until": self.window.until.isoformat(), **self.counts.as_dict(),
                "status": self.status, "reason": self.reason}


def run_view(run: ReconcileRunRow) -> dict[str, Any]:
    """A stored run as `connections list --json` shows it (`last_reconcile`)."""
    return {"connection_id": run.connection_id, "since": run.since.isoformat(), "until": run.until.isoformat(),
            "seen": run.seen, "known": run.known, "new": run.new, "skipped": run.skipped,
            "errors": run.errors, "status": run.status, "reason": run.reason, "trigger": run.trigger,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None}


def last_run(db: Database, connection_id: str) -> ReconcileRunRow | None:
    with db.session() as session:
        return session.scalar(select(ReconcileRunRow).where(
            ReconcileRunRow.connection_id == connection_id, ReconcileRunRow.status != "running")
            .order_by(ReconcileRunRow.id.desc()).limit(1))


Progress = Callable[[Counts], None]


class Reconciler:
    def __init__(self, db: Database, dispatcher: Dispatcher, public_url: str,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.db, self.dispatcher, self.public_url, self.sleep = db, dispatcher, public_url, sleep
        # The CLI's NullDispatcher wakes nobody: its events are left to the sweeper.
        self.wakes_workers = not isinstance(dispatcher, NullDispatcher)

    # -- entry points -----------------------------------------------------------
    def run(self, connection_id: str, window: ReconcileWindow, *, dry_run: bool = False,
            progress: Progress | None = None) -> Result:
        """One run over `window` from its start (the CLI's `bridge reconcile`)."""
        connector, context = self._reconcilable(connection_id)
        if dry_run:
            result = Result(connection_id, window)
            self._pages(connector, context, result, cursor=None, run_id=None, dry_run=True, progress=progress)
            return result
        with self._lease(connection_id):
            run_id = self._new_run(connection_id, "cli", window, cursor=None)
            return self._carry_out(connector, context, run_id, progress)

    def run_scheduled(self, connection_id: str, every: timedelta, now: datetime | None = None,
                      first_window: timedelta = timedelta(hours=24),
                      overlap: timedelta = timedelta(minutes=10)) -> Result | None:
        """The beat's run: resume a run that stopped half-way, or start the next
        one, its window overlapping the last. None when it is not due, another
        run holds the connection, or it cannot be reconciled (logged)."""
        now = now or utcnow()
        try:
            connector, context = self._reconcilable(connection_id)
            with self._lease(connection_id):
                run_id = self._unfinished_run(connection_id)
                if run_id is None:
                    if not self._due(connection_id, every, now):
                        return None  # a duplicate wake-up: the run it asked for is done
                    run_id = self._next_run(connector, connection_id, now, first_window, overlap)
                return self._carry_out(connector, context, run_id, None)
        except ReconcileUnavailable as refused:
            log.info("not reconciling %s: %s", connection_id, refused.message)
            return None

    # -- the run ------------------------------------------------------------------
    def _carry_out(self, connector: Connector, context: ConnectionContext, run_id: int,
                   progress: Progress | None) -> Result:
        with self.db.session() as session:
            run = session.get(ReconcileRunRow, run_id)
            result = Result(run.connection_id, ReconcileWindow(run.since, run.until), run_id=run_id)
            result.counts = Counts(run.seen, run.known, run.new, run.skipped, run.errors)
            cursor = run.cursor
            run.status, run.reason = "running", None
        self._pages(connector, context, result, cursor, run_id, dry_run=False, progress=progress)
        with self.db.session() as session:
            run = session.get(ReconcileRunRow, run_id)
            run.status, run.reason, run.finished_at = result.status, result.reason, utcnow()
            self._save_counts(run, result.counts)
        return result

    def _pages(self, connector: Connector, context: ConnectionContext, result: Result,
               cursor: str | None, run_id: int | None, dry_run: bool, progress: Progress | None) -> None:
        while True:
            try:
                page = self._page(connector, context, result, cursor)
            except VendorTokenRejected as refused:
                result.counts.errors += 1
                self._reject_token(context.id, refused.message)
                self._stop(result, f"{refused.message}; nothing more is asked of it until it is rotated "
                                   f"(`{ROTATE_VENDOR.format(id=context.id)}`)")
                return
            except BridgeError as error:  # an API that stayed down, a refused query, a bad setting
                self._stop(result, f"{error.message}; the next run resumes from here")
                return
            if page.sales:
                self._take(connector, context, list(page.sales), result.counts, dry_run)
            cursor = page.cursor
            if run_id is not None:
                self._checkpoint(run_id, context.id, cursor, result.counts)
            if progress:
                progress(result.counts)
            if page.done:
                result.status = "finished"
                return

    def _page(self, connector: Connector, context: ConnectionContext, result: Result,
              cursor: str | None) -> ReconcilePage:
        """One page, retried with backoff on 429, 5xx and timeouts; each failure counts."""
        rate = Rate(burst=1, per_second=connector.reconcile_requests_per_second)
        for attempt in range(ATTEMPTS):
            while (wait := _pace.take(context.id, rate)) > 0:
                self.sleep(wait)
            try:
                return connector.reconcile_page(context, result.window, cursor)
            except VendorAPIUnavailable as error:
                result.counts.errors += 1
                if attempt == ATTEMPTS - 1:
                    raise
                delay = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
                if error.retry_after is not None:
                    if error.retry_after > MAX_WAIT_SECONDS:
                        raise
                    delay = max(delay, error.retry_after)
                log.info("reconcile %s: %s; trying again in %.1f s", context.id, error.message, delay)
                self.sleep(delay)
        raise AssertionError("unreachable")

    def _take(self, connector: Connector, context: ConnectionContext, sales: list[VendorSale],
              counts: Counts, dry_run: bool) -> None:
        """Count one page's sales and store the new ones, in one transaction."""
        counts.seen += len(sales)
        verdicts = self._verdicts(connector, context, sales)
        to_store = []
        for sale, verdict in zip(sales, verdicts):
            if verdict in ("known", "skipped"):
                setattr(counts, verdict, getattr(counts, verdict) + 1)
                continue
            if verdict == "error":
                counts.errors += 1  # stored all the same: it fails visibly, replayable after a fix
            to_store.append((sale, verdict))
        if dry_run:
            counts.new += sum(verdict == "new" for _, verdict in to_store)
            return
        if not to_store:
            return
        stored = store_events(self.db, connection_id=context.id, vendor=context.vendor, source="reconcile",
                              requests=[(sale.event_id, self._request(context, sale)) for sale, _ in to_store],
                              woken=self.wakes_workers)
        for (_, verdict), event in zip(to_store, stored):
            if not event.created:
                counts.known += 1
                continue
            counts.new += verdict == "new"
            self.dispatcher.process_event(event.event_id)

    def _verdicts(self, connector: Connector, context: ConnectionContext, sales: list[VendorSale]) -> list[str]:
        """known | skipped | new | error (the connector cannot read it), per sale."""
        with self.db.session() as session:
            stored_events = set(session.scalars(select(EventRow.vendor_event_id).where(
                EventRow.connection_id == context.id,
                EventRow.vendor_event_id.in_([sale.event_id[:255] for sale in sales]))))
        keys_of: list[set[str] | str] = []
        for sale in sales:
            if sale.event_id[:255] in stored_events:
                keys_of.append("known")
                continue
            try:
                parsed = connector.parse(self._request(context, sale), context)
            except PayloadError as error:
                log.warning("reconcile %s: cannot read %s: %s", context.id, sale.event_id, error.message)
                keys_of.append("error")
                continue
            keys = {tx.idempotency_key for tx in parsed.transactions}
            keys_of.append("skipped" if parsed.skip_reason or not keys else keys)
        wanted = set().union(*(keys for keys in keys_of if isinstance(keys, set)))
        with self.db.session() as session:
            existing = set(session.scalars(select(TransactionRow.idempotency_key).where(
                TransactionRow.idempotency_key.in_(wanted)))) if wanted else set()
        return [keys if isinstance(keys, str) else ("known" if keys <= existing else "new") for keys in keys_of]

    def _request(self, context: ConnectionContext, sale: VendorSale) -> InboundRequest:
        return InboundRequest(body=sale.body, headers={"content-type": "application/json", **sale.headers},
                              url=connections.webhook_url(self.public_url, context.id),
                              content_type="application/json", remote_addr=None,
                              received_at=utcnow(), source="reconcile")

    # -- the connection -----------------------------------------------------------
    def _reconcilable(self, connection_id: str) -> tuple[Connector, ConnectionContext]:
        with self.db.session() as session:
            row = connections.get(session, connection_id)
            if row is None:
                raise ReconcileUnavailable(f"no connection {connection_id!r} (see `bridge connections list`)")
            context = connections.context(self.db, row)
            rejected_at, rejection, status = row.vendor_token_rejected_at, row.vendor_token_rejection, row.status
        connector = registry.get(context.vendor)
        if not connector.supports_reconcile:
            raise ReconcileUnavailable(
                f"{connector.display_name} connections have no vendor API to list sales from; "
                "the sender re-posts what failed (see its README)")
        if not context.vendor_token:
            raise ReconcileUnavailable(
                f"{connection_id} has no {connector.display_name} API token to list its sales with; "
                f"add one: `{ROTATE_VENDOR.format(id=connection_id)}`")
        if rejected_at is not None:
            raise ReconcileUnavailable(
                f"{connector.display_name} refused {connection_id}'s API token on {rejected_at:%Y-%m-%d %H:%M} UTC "
                f"({rejection}); rotate it: `{ROTATE_VENDOR.format(id=connection_id)}`")
        if status == "disabled":
            raise ReconcileUnavailable(f"{connection_id} is disabled; enable it first")
        return connector, context

    def _lease(self, connection_id: str) -> "_Lease":
        return _Lease(self.db, connection_id)

    def _reject_token(self, connection_id: str, reason: str) -> None:
        with self.db.session() as session:
            row = session.get(ConnectionRow, connection_id)
            row.vendor_token_rejected_at, row.vendor_token_rejection = utcnow(), reason

    @staticmethod
    def _stop(result: Result, reason: str) -> None:
        result.status, result.reason = "stopped", reason
        log.warning("reconcile %s stopped: %s", result.connection_id, reason)

    # -- runs -----------------------------------------------------------------------
    def _new_run(self, connection_id: str, trigger: str, window: ReconcileWindow, cursor: str | None) -> int:
        with self.db.session() as session:
            run = ReconcileRunRow(connection_id=connection_id, trigger=trigger, since=window.since,
                                  until=window.until, cursor=cursor, status="running", started_at=utcnow(),
                                  seen=0, known=0, new=0, skipped=0, errors=0)
            session.add(run)
            session.flush()
            return run.id

    def _unfinished_run(self, connection_id: str) -> int | None:
        """The newest scheduled run, when it did not finish: resumed over its window."""
        with self.db.session() as session:
            run = session.scalar(select(ReconcileRunRow).where(
                ReconcileRunRow.connection_id == connection_id, ReconcileRunRow.trigger == "schedule")
                .order_by(ReconcileRunRow.id.desc()).limit(1))
            return run.id if run is not None and run.status != "finished" else None

    def _next_run(self, connector: Connector, connection_id: str, now: datetime,
                  first_window: timedelta, overlap: timedelta) -> int:
        with self.db.session() as session:
            last = session.scalar(select(ReconcileRunRow).where(
                ReconcileRunRow.connection_id == connection_id, ReconcileRunRow.trigger == "schedule")
                .order_by(ReconcileRunRow.id.desc()).limit(1))
            created_at = session.get(ConnectionRow, connection_id).created_at
        if last is None:
            # Sales from before the connection existed are a backfill's to import, on purpose.
            since, cursor = max(created_at, now - first_window), None
        else:
            since, cursor = min(last.until - overlap, now - overlap), connector.resume_cursor(last.cursor)
        return self._new_run(connection_id, "schedule", ReconcileWindow(since, now), cursor)

    def _due(self, connection_id: str, every: timedelta, now: datetime) -> bool:
        with self.db.session() as session:
            started = session.scalar(select(ReconcileRunRow.started_at).where(
                ReconcileRunRow.connection_id == connection_id, ReconcileRunRow.trigger == "schedule")
                .order_by(ReconcileRunRow.id.desc()).limit(1))
        return started is None or started + every <= now

    def _checkpoint(self, run_id: int, connection_id: str, cursor: str | None, counts: Counts) -> None:
        """The cursor and counts after a page, and the lease renewed: a crash resumes here."""
        with self.db.session() as session:
            run = session.get(ReconcileRunRow, run_id)
            run.cursor = cursor
            self._save_counts(run, counts)
            session.execute(update(ConnectionRow).where(ConnectionRow.id == connection_id)
                            .values(reconcile_lease_until=utcnow() + LEASE))

    @staticmethod
    def _save_counts(run: ReconcileRunRow, counts: Counts) -> None:
        run.seen, run.known, run.new = counts.seen, counts.known, counts.new
        run.skipped, run.errors = counts.skipped, counts.errors


class _Lease:
    """One reconciliation per connection at a time, across processes
    (compare-and-set on the connection row; a crashed holder's lease expires)."""

    def __init__(self, db: Database, connection_id: str) -> None:
        self.db, self.connection_id = db, connection_id

    def __enter__(self) -> "_Lease":
        now = utcnow()
        with self.db.session() as session:
            claimed = session.execute(
                update(ConnectionRow)
                .where(ConnectionRow.id == self.connection_id,
                       (ConnectionRow.reconcile_lease_until.is_(None)) | (ConnectionRow.reconcile_lease_until < now))
                .values(reconcile_lease_until=now + LEASE)).rowcount
        if claimed != 1:
            raise ReconcileUnavailable(
                f"a reconciliation of {self.connection_id} is already running; try again in a few minutes")
        return self

    def __exit__(self, *exc) -> None:
        with self.db.session() as session:
            session.execute(update(ConnectionRow).where(ConnectionRow.id == self.connection_id)
                            .values(reconcile_lease_until=None))

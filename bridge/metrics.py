"""Prometheus metrics, served at /metrics (docs/operations.md, "Health and metrics").

Counters and histograms only: they aggregate across processes in
prometheus_client's multiprocess mode. Queue depths are read from the store
at scrape time (bridge/stats.py), not kept here."""

from prometheus_client import Counter, Histogram

# outcome: received (its connection known), verified, stored, duplicate, or
# rejected with a reason (an error code, or for a signature: missing,
# malformed, stale, mismatch, not_allowed, no_secret).
WEBHOOKS = Counter("bridge_webhooks_total", "Webhook requests by connection, vendor, outcome and reason",
                   ["connection", "vendor", "outcome", "reason"])
INGEST_LATENCY = Histogram("bridge_ingest_seconds", "Time to verify, store and enqueue a webhook",
                           ["vendor"], buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
DELIVERIES = Counter("bridge_delivery_attempts_total", "Delivery attempts by target and outcome",
                     ["target", "outcome"])
EVENTS_PROCESSED = Counter("bridge_events_processed_total", "Stored events parsed, by vendor and result",
                           ["vendor", "result"])
DELIVERIES_THROTTLED = Counter("bridge_deliveries_throttled_total",
                               "Deliveries held back (not attempted) because the target's rate budget was spent")
ATTEMPT_SECONDS = Histogram("bridge_delivery_attempt_seconds", "Duration of one delivery attempt (the HTTP call)",
                            ["target"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

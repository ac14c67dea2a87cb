"""gunicorn settings for the web process (the Procfile passes this file).

The webhook request is short: verify, store, enqueue. Whatever holds a worker
longer is a slow or hostile client, so the limits are tight. Put a buffering
reverse proxy (nginx, a cloud load balancer) in front in production: it
absorbs slow bodies (slowloris) before they reach a worker thread.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
# A worker silent for this long is killed and replaced; also the bound on a
# request that trickles its body in.
timeout = 30
graceful_timeout = 20
keepalive = 5
# Request line and headers: generous for vendors, bounded for everyone else.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 16384
# Vendor webhooks carry no secrets in the URL, but a caller might: never log query strings.
accesslog = "-" if os.environ.get("BRIDGE_ACCESS_LOG") else None
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'


def child_exit(server, worker):
    """Multi-process metrics: a dead worker's gauges must not linger (counters stay summed)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

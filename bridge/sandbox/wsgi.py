"""WSGI entry point for running the sandbox core as its own process:

    gunicorn -w 1 --threads 16 -b 127.0.0.1:8099 bridge.sandbox.wsgi:app

Exactly one worker process (-w 1): balances, the ledger and the idempotency
store live in that process's memory, so a second worker would award the same
Idempotency-Key again and show different balances. Use threads for concurrency.
"""
from . import create_sandbox_app

app = create_sandbox_app()

"""Going live: prove a connection works before a real customer is affected.

`check` runs a checklist that awards nothing (bridge.golive.check); `test`
sends one real, marked test transaction and records it as an event of its own
(bridge.golive.test_transaction). The CLI (`bridge connections check|test`)
and the admin API (`POST /api/connections/<id>/check|test`) both call these.
docs/go-live.md explains how each works and why the check cannot award.
"""

from bridge.golive.check import run_check
from bridge.golive.test_transaction import run_test

__all__ = ["run_check", "run_test"]

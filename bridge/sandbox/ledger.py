"""All mutable state of the sandbox core, behind one lock.

State lives in process memory, so the sandbox must run as one process
(gunicorn -w 1 with threads); two workers would each keep their own balances
and idempotency store.

One `threading.Lock` guards everything. `run_transaction` holds it across the
idempotency lookup, the rate-limit check, the award and the storing of the
response, so the same Idempotency-Key posted by 50 threads at once awards once.
"""
from __future__ import annotations

import copy
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from .models import APIS, Customer, Organization, SpecError, customer_from_spec, organization_from_spec


class ConflictError(SpecError):
    """An org name or API key that is already taken (HTTP 409)."""


class UnknownOrgError(SpecError):
    """A control route named an org that does not exist (HTTP 404)."""


@dataclass
class Outcome:
    """What an API call answers; `award` is the ledger entry to append, if any."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    award: dict[str, Any] | None = None
    replayed: bool = False


def _is_replayable(status: int) -> bool:
    # Only outcomes that a retry would reproduce are stored. 401, 429, 5xx and
    # injected faults are transient or about the key, so a retry must be
    # processed; so is a 404: the customer may sign up, and the sale that found
    # nobody then awards under its own key.
    return 200 <= status < 300 or status == 400


@dataclass
class Fault:
    api: str  # "xtarly", "cockato" or "*"
    remaining: int
    status: int | None = None
    retry_after: int | None = None
    delay: float = 0.0
    after_process_delay: float = 0.0

    def matches(self, api: str) -> bool:
        return self.api in ("*", api)

    def as_dict(self) -> dict[str, Any]:
        return {"api": self.api, "count": self.remaining, "status": self.status,
                "retry_after": self.retry_after, "delay": self.delay,
                "after_process_delay": self.after_process_delay}


def fault_from_spec(spec: Any) -> Fault:
    if not isinstance(spec, dict):
        raise SpecError("fault must be a JSON object")
    api = spec.get("api", "*")
    if api not in (*APIS, "*"):
        raise SpecError("api must be xtarly, cockato or *")
    count, status, retry_after = spec.get("count", 1), spec.get("status"), spec.get("retry_after")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise SpecError("count must be a positive integer")
    if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
        raise SpecError("status must be an HTTP error status (400-599)")
    delays = {}
    for name in ("delay", "after_process_delay"):
        value = spec.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 600:
            raise SpecError(f"{name} must be a number of seconds between 0 and 600")
        delays[name] = float(value)
    if retry_after is not None:
        if isinstance(retry_after, bool) or not isinstance(retry_after, (int, float)) or retry_after < 0:
            raise SpecError("retry_after must be a non-negative number of seconds")
        retry_after = math.ceil(retry_after)  # Retry-After is whole seconds on the wire
    if status is None and not delays["delay"] and not delays["after_process_delay"]:
        raise SpecError("a fault needs a status, a delay or an after_process_delay")
    return Fault(api=api, remaining=count, status=status, retry_after=retry_after, **delays)


class SandboxLedger:
    def __init__(self, org_specs: list[dict[str, Any]]):
        self._lock = threading.Lock()
        self._initial_specs = copy.deepcopy(org_specs)
        self._load_initial_state()

    def _load_initial_state(self) -> None:
        self._orgs: dict[str, Organization] = {}
        self._entries: list[dict[str, Any]] = []
        self._request_counts: dict[str, dict[str, Any]] = {}
        self._stored_responses: dict[tuple[str, str, str], Outcome] = {}
        self._faults: list[Fault] = []
        self._rate_windows: dict[str, deque[float]] = {}
        for spec in copy.deepcopy(self._initial_specs):
            self._add_org_locked(organization_from_spec(spec))

    # --- organizations -------------------------------------------------

    def reset(self) -> None:
        """Back to the state at creation: seeded orgs with seeded balances, or empty."""
        with self._lock:
            self._load_initial_state()

    def add_org(self, spec: Any) -> Organization:
        org = organization_from_spec(spec)
        with self._lock:
            self._add_org_locked(org)
        return org

    def add_customer(self, org_name: str, spec: Any) -> Customer:
        """A sign-up: the customer is known from the next request on."""
        customer = customer_from_spec(spec)
        with self._lock:
            org = self._orgs.get(org_name)
            if org is None:
                raise UnknownOrgError(f"no org named {org_name!r}")
            if customer.id in org.customers:
                raise ConflictError(f"customer {customer.id!r} already exists")
            org.customers[customer.id] = customer
        return customer

    def _add_org_locked(self, org: Organization) -> None:
        # Org names are unique across both APIs so control routes can name an org alone.
        if org.name in self._orgs:
            raise ConflictError(f"org {org.name!r} already exists")
        self._ensure_key_free(org.api, org.key)
        self._orgs[org.name] = org

    def _ensure_key_free(self, api: str, key: str) -> None:
        if any(o.api == api and o.key == key for o in self._orgs.values()):
            raise ConflictError("that API key is already in use")

    def rotate_key(self, org_name: str, new_key: str) -> Organization:
        with self._lock:
            org = self._orgs.get(org_name)
            if org is None:
                raise UnknownOrgError(f"no org named {org_name!r}")
            if new_key != org.key:
                self._ensure_key_free(org.api, new_key)
            org.key = new_key  # the old key fails from the very next request
            return org

    def org_for_key(self, api: str, key: str) -> Organization | None:
        if not key:
            return None
        with self._lock:
            return next((o for o in self._orgs.values() if o.api == api and o.key == key), None)

    def customer_view(self, org: Organization, customer_id: str) -> dict[str, Any] | None:
        with self._lock:
            customer = org.customers.get(customer_id)
            return customer.as_dict() if customer else None

    # --- transactions --------------------------------------------------

    def run_transaction(self, api: str, org: Organization, idempotency_key: str | None,
                        process: Callable[[], Outcome]) -> Outcome:
        """Replay a stored response, or throttle, or run `process` and record its award.

        `process` runs with the lock held, so it may read and change balances freely.
        """
        with self._lock:
            store_key = (api, org.name, idempotency_key) if idempotency_key else None
            if store_key and store_key in self._stored_responses:
                stored = self._stored_responses[store_key]
                return Outcome(stored.status, copy.deepcopy(stored.body),
                               dict(stored.headers), replayed=True)
            throttled = self._throttle_locked(org)
            if throttled:
                return throttled
            outcome = process()
            if outcome.award is not None:
                self._entries.append({
                    "api": api, "org": org.name, **outcome.award,
                    "idempotency_key": idempotency_key,
                    "at": datetime.now(timezone.utc).isoformat()})
            if store_key and _is_replayable(outcome.status):
                self._stored_responses[store_key] = Outcome(
                    outcome.status, copy.deepcopy(outcome.body), dict(outcome.headers))
            return outcome

    def _throttle_locked(self, org: Organization) -> Outcome | None:
        limit = org.rate_limit_per_minute
        if limit is None:
            return None
        now = time.monotonic()
        window = self._rate_windows.setdefault(org.name, deque())
        span = org.rate_limit_window_seconds
        while window and window[0] <= now - span:
            window.popleft()
        if len(window) >= limit:
            retry_after = max(1, math.ceil(window[0] + span - now))
            return Outcome(429, {"success": False, "error": {
                "code": "RATE_LIMITED",
                "message": f"more than {limit} transactions in {span:g} s; retry later"}},
                headers={"Retry-After": str(retry_after)})
        window.append(now)
        return None

    # --- faults and request counts --------------------------------------

    def add_fault(self, spec: Any) -> Fault:
        fault = fault_from_spec(spec)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take_fault(self, api: str) -> Fault | None:
        """Consume one use of the oldest fault that matches `api`."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(api):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return copy.copy(fault)
        return None

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def count_request(self, api: str, status: int) -> None:
        with self._lock:
            counts = self._request_counts.setdefault(api, {"total": 0, "by_status": {}})
            counts["total"] += 1
            counts["by_status"][str(status)] = counts["by_status"].get(str(status), 0) + 1

    # --- read-only views -----------------------------------------------

    def request_counts(self) -> dict[str, Any]:
        with self._lock:
            by_api = copy.deepcopy(self._request_counts)
        return {"total": sum(c["total"] for c in by_api.values()), "by_api": by_api}

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._entries)

    def orgs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [org.as_dict() for org in self._orgs.values()]

"""The retry schedule, in one function.

A short blip of a loyalty core should cost seconds: the first three retries
come within the first minute, then the gaps double, with jitter, up to a cap.
The schedule lives in the database (`next_attempt_at`); the sweeper enqueues
what is due, so no long Celery countdown can duplicate past Redis's
visibility timeout.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

FIRST_DELAYS = (5.0, 15.0, 30.0)  # seconds after failures 1, 2 and 3
CAP_SECONDS = 3600.0
JITTER = 0.1


def retry_delay(failures: int, retry_after: float | None = None,
                rand: random.Random | None = None) -> float:
    """Seconds to wait after the `failures`-th failed attempt (1-based)."""
    rand = rand or random
    if failures <= len(FIRST_DELAYS):
        base = FIRST_DELAYS[failures - 1]
    else:
        base = min(60.0 * 2 ** (failures - len(FIRST_DELAYS) - 1), CAP_SECONDS)
    delay = base * (1 + rand.uniform(-JITTER, JITTER))
    if retry_after is not None:
        # Never earlier than the core asked; never later than our own cap.
        delay = max(delay, retry_after)
    return min(delay, CAP_SECONDS)


def next_attempt(now: datetime, first_attempt_at: datetime, failures: int, budget_seconds: float,
                 retry_after: float | None = None) -> datetime | None:
    """When to try again, or None once the retry budget is spent."""
    when = now + timedelta(seconds=retry_delay(failures, retry_after))
    if when > first_attempt_at + timedelta(seconds=budget_seconds):
        return None
    return when

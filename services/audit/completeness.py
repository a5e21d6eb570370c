"""Whether the ledger holds every event the services recorded in a report's window.

A report built while audit is behind is silently short (issue #20: 0 of 860 appointments three
seconds after a scrape, exact fifteen seconds later). So each report counts, per producing
service, the events recorded between the window's start (less a lookback, for the appointment
states a read shows) and its end that the ledger does not hold yet; audit.unledgered (migration
0024) counts them in the service's store and returns counts and times only. Nothing with a
count above zero is served as final.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.audit.ledger import Connection
from services.common.config import SERVICES

LOOKBACK = timedelta(hours=1)  # appointment events a window's reads may show
# Events/s audit ledgered and indexed under `make demo`'s scrape on 2 cores (55-90: 1,080
# refusals indexed 20 s into the flood; 5,300 within 58 s of its start): a hint, not a promise.
_RATE = 50.0
_EVERY_S = 0.25  # between checks while waiting


@dataclass(frozen=True)
class Lag:
    """One service: events recorded in the checked span that the ledger does not hold yet."""

    service: str
    pending: int
    oldest: datetime | None


@dataclass(frozen=True)
class Completeness:
    """The ledger against every producing store, for one report's span."""

    since: datetime
    until: datetime
    checked_at: datetime
    lags: tuple[Lag, ...]

    @property
    def complete(self) -> bool:
        """True when no service has an event of the span still outside the ledger."""
        return all(lag.pending == 0 for lag in self.lags)

    @property
    def pending(self) -> int:
        """Events of the span still to be ledgered, all services together."""
        return sum(lag.pending for lag in self.lags)

    def retry_after_s(self) -> int:
        """A fair wait before asking again (retry_after)."""
        return retry_after(self.pending)

    def as_dict(self) -> dict[str, Any]:
        """For the report and for a 202: what was checked, up to when, what is still due."""
        return {
            "complete": self.complete,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "checked_at": self.checked_at.isoformat(),
            "pending": self.pending,
            "services": {
                lag.service: {
                    "pending": lag.pending,
                    "oldest_pending": lag.oldest.isoformat() if lag.oldest else None,
                }
                for lag in self.lags
            },
        }


def retry_after(pending: int) -> int:
    """Seconds to wait for a backlog at audit's slowest measured pace, within 1..60."""
    return max(1, min(60, math.ceil(pending / _RATE)))


def settle(check_once: Callable[[], Completeness], wait_s: float) -> Completeness:
    """Check until complete or `wait_s` has passed; the last answer either way."""
    deadline = time.monotonic() + wait_s
    while True:
        ready = check_once()
        if ready.complete or time.monotonic() >= deadline:
            return ready
        time.sleep(_EVERY_S)


def check(
    conn: Connection,
    start: datetime,
    end: datetime,
    services: Sequence[str] = SERVICES,
) -> Completeness:
    """Count each store's events of [start - LOOKBACK, min(end, now)] not in the ledger."""
    now = datetime.now(UTC)
    since, until = start - LOOKBACK, min(end, now)
    lags = []
    for service in services:
        row = conn.execute(
            "SELECT pending, oldest FROM audit.unledgered(%s, %s, %s)", (service, since, until)
        ).fetchone()
        lags.append(Lag(service, int(row[0]) if row else 0, row[1] if row else None))
    return Completeness(since, until, now, tuple(lags))

"""Read quotas: a token bucket per principal (and per source address for failed attempts).

Quotas bound what any credential can take before any detection rule fires (ADR 0014). The
buckets live in PostgreSQL (booking.quota_buckets) so every booking replica charges the same
one: a single statement refills a bucket at its rate, checks it holds a token and takes it,
before a read is served. A read that returned n appointments owes n - 1 more, charged in
its access record's transaction (access.py): the bucket may go below zero, and the next
reads wait until it refills. An active QuotaSet from identity (booking.quotas) overrides the
default of the principal's kind; service principals (RPC) are not metered.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from psycopg import Connection

from contracts.identity_accounts import MAX_PER_HOUR
from services.common.errors import TooManyRequests

if TYPE_CHECKING:  # context.py imports this module for Settings
    from services.booking.context import Ctx
    from services.booking.reach import Principal

# Whose defaults come from config; "unauthenticated" is the budget of failed attempts per
# source address (no token, or one identity refused).
KINDS = ("connector", "practitioner", "staff", "patient", "unauthenticated")
UNMETERED = ("service",)
_LIMIT = re.compile(r"\s*(\d{1,8})\s*/\s*(\d{1,8})\s*")


@dataclass(frozen=True)
class Limit:
    """How many appointments per hour, and how many at once (the bucket's size)."""

    per_hour: int
    burst: int


@dataclass(frozen=True)
class Quotas:
    """The default limit of each principal kind, and of failed attempts per address."""

    limits: Mapping[str, Limit]

    def of(self, kind: str) -> Limit | None:
        """The default for this kind; None: not metered. An unknown kind gets the strictest."""
        if kind in UNMETERED:
            return None
        return self.limits.get(kind) or min(self.limits.values(), key=lambda x: x.per_hour)


def config_key(kind: str) -> str:
    """BOOKING_QUOTA_CONNECTOR, … : '<per hour>/<burst>'."""
    return f"BOOKING_QUOTA_{kind.upper()}"


def quotas_from_config(config: Mapping[str, Any]) -> Quotas:
    """Every kind's limit from config, or ValueError naming the key: booking will not start
    with a quota it cannot read (no silent default, no unlimited by mistake)."""
    limits = {}
    for kind in KINDS:
        key, raw = config_key(kind), config.get(config_key(kind))
        match = _LIMIT.fullmatch(str(raw)) if raw not in (None, "") else None
        numbers = (int(match[1]), int(match[2])) if match else (0, 0)
        if not all(1 <= n <= MAX_PER_HOUR for n in numbers):
            raise ValueError(
                f"{key} must be '<per hour>/<burst>', two whole numbers from 1 to "
                f"{MAX_PER_HOUR:,} (e.g. 300/50), not {str(raw)[:40]!r} (docs/booking.md#quotas)"
            )
        limits[kind] = Limit(*numbers)
    return Quotas(limits)


def subject(kind: str, ident: Any) -> str:
    """A bucket's key: 'connector:<uuid>', 'patient:<uuid>', 'address:<ip>'…"""
    return f"{kind}:{ident}"


# The limit in force: the active QuotaSet set last at identity, else the kind's default.
_WANTED = """
WITH wanted AS (
    SELECT coalesce(q.per_hour, %(per_hour)s)::float8 / 3600 AS rate,
           coalesce(q.burst, %(burst)s)::float8 AS burst
    FROM (SELECT 1) AS one LEFT JOIN LATERAL (
        SELECT per_hour, burst FROM booking.quotas
        WHERE principal_id = %(principal)s AND (until IS NULL OR until > now())
        ORDER BY source_position DESC LIMIT 1
    ) AS q ON true
)"""
# Refilled since `at` (never backwards: a concurrent check may have stamped a later `at`),
# capped at the burst. The row lock taken by ON CONFLICT serialises concurrent checks.
_AVAILABLE = (
    "least((SELECT burst FROM wanted), b.tokens"
    " + greatest(0, extract(epoch FROM now() - b.at)) * (SELECT rate FROM wanted))"
)
TAKE = f"""{_WANTED}
INSERT INTO booking.quota_buckets AS b (subject, tokens, at)
SELECT %(subject)s, wanted.burst - 1, now() FROM wanted
ON CONFLICT (subject) DO UPDATE SET tokens = {_AVAILABLE} - 1, at = greatest(b.at, now())
WHERE {_AVAILABLE} >= 1
RETURNING b.tokens"""
SHORT = f"""{_WANTED}
SELECT {_AVAILABLE}, (SELECT rate FROM wanted) FROM booking.quota_buckets AS b
WHERE b.subject = %(subject)s"""
CHARGE = "UPDATE booking.quota_buckets SET tokens = tokens - %s WHERE subject = %s"


def take(conn: Connection, subject_key: str, limit: Limit, principal: UUID | None = None) -> None:
    """Take one token from the subject's bucket, or TooManyRequests saying when to retry."""
    params = {
        "subject": subject_key,
        "principal": principal,
        "per_hour": limit.per_hour,
        "burst": limit.burst,
    }
    if conn.execute(TAKE, params).fetchone() is not None:
        return
    # Refused (rare): a second look says how long until one token is back.
    row = conn.execute(SHORT, params).fetchone()
    available, rate = (row[0], row[1]) if row else (0.0, limit.per_hour / 3600)
    wait = math.ceil((1 - available) / rate) if rate > 0 else 3600
    raise TooManyRequests(
        "read quota exhausted: nothing was read; retry after the time given", max(1, wait)
    )


def charge(conn: Connection, subject_key: str, amount: int) -> None:
    """Take `amount` more (the rest of what a read returned); the bucket may go below zero."""
    if amount > 0:
        conn.execute(CHARGE, (float(amount), subject_key))


@contextmanager
def _statement(ctx: Ctx) -> Iterator[Connection]:
    """A pooled connection in autocommit: each check is one round trip, no BEGIN/COMMIT."""
    with ctx.pool.connection() as conn:
        conn.autocommit = True
        try:
            yield conn
        finally:
            if not conn.closed and not conn.broken:
                conn.autocommit = False


def admit(ctx: Ctx, p: Principal) -> None:
    """Before a read: one token from the principal's bucket (429 when it is empty)."""
    limit = ctx.settings.quotas.of(p.kind) if ctx.settings.quotas else None
    if limit is not None:
        with _statement(ctx) as conn:
            take(conn, subject(p.kind, p.id), limit, p.id)


def admit_failure(ctx: Ctx, address: str) -> None:
    """A failed attempt (no token, or one identity refused) costs its source address a token;
    when the address has none left, the answer is 429 instead of 401."""
    limit = ctx.settings.quotas.of("unauthenticated") if ctx.settings.quotas else None
    if limit is not None:
        with _statement(ctx) as conn:
            take(conn, subject("address", address), limit)


def charge_rest(ctx: Ctx, p: Principal, returned: int) -> None:
    """After a read returned `returned` appointments: the n - 1 its admission did not take."""
    if ctx.settings.quotas and ctx.settings.quotas.of(p.kind) is not None and returned > 1:
        with _statement(ctx) as conn:
            charge(conn, subject(p.kind, p.id), returned - 1)


def apply_quota_set(conn: Connection, p: Mapping[str, Any], event_id: Any, position: int) -> None:
    """QuotaSet from identity: keep the latest of each (principal, reason), by log position."""
    conn.execute(
        "INSERT INTO booking.quotas (principal_id, reason, principal_kind, per_hour, burst, until,"
        " detection_id, set_by, source_position, updated_from_event)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (principal_id, reason) DO UPDATE SET principal_kind ="
        " EXCLUDED.principal_kind, per_hour = EXCLUDED.per_hour, burst = EXCLUDED.burst,"
        " until = EXCLUDED.until, detection_id = EXCLUDED.detection_id, set_by ="
        " EXCLUDED.set_by, source_position = EXCLUDED.source_position, updated_from_event ="
        " EXCLUDED.updated_from_event, updated_at = now()"
        " WHERE booking.quotas.source_position < EXCLUDED.source_position",
        (
            p["principal_id"],
            p["reason"],
            p["principal_kind"],
            p["per_hour"],
            p["burst"],
            p["until"],
            p["detection_id"],
            p["set_by"],
            position,
            event_id,
        ),
    )

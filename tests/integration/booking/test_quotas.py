"""Read quotas on the real PostgreSQL: one bucket per principal shared by every booking
process, charged before a read and for what it returned, overridden by identity's QuotaSet."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from contracts.registry import REGISTRY
from services.booking import quota
from services.booking.access import AccessRecorder
from services.booking.context import Ctx, Settings
from services.booking.crypto import KeyRing, MasterKey, generate_master_key_b64
from services.booking.quota import Limit, Quotas
from services.booking.reach import Principal, service_principal
from services.common.errors import TooManyRequests
from services.common.eventstore.store import EventStore
from tests.contract.examples import EXAMPLES

# Tiny rates: nothing refills during a test, so every count below is exact.
LIMITS = {
    "connector": Limit(1, 5),
    "practitioner": Limit(1, 5),
    "staff": Limit(1, 5),
    "patient": Limit(1, 3),
    "unauthenticated": Limit(1, 2),
}


def make_ctx(pool: Any, limits: dict[str, Limit] = LIMITS) -> Ctx:
    store = EventStore(pool, "booking")
    keys = KeyRing(pool, MasterKey.from_b64(generate_master_key_b64()))
    return Ctx(pool, store, keys, AccessRecorder(store), Settings(quotas=Quotas(limits)))


@pytest.fixture
def ctx(pool: ConnectionPool) -> Ctx:
    return make_ctx(pool)


def principal(kind: str = "patient") -> Principal:
    return Principal(kind, uuid.uuid4())


def admitted(ctx: Ctx, p: Principal, tries: int) -> int:
    """How many of `tries` reads in a row the bucket lets through."""
    count = 0
    for _ in range(tries):
        try:
            quota.admit(ctx, p)
            count += 1
        except TooManyRequests:
            pass
    return count


def test_a_principal_reads_its_burst_then_gets_a_retry_after(ctx):
    p = principal("patient")
    assert admitted(ctx, p, 3) == 3
    with pytest.raises(TooManyRequests) as refused:
        quota.admit(ctx, p)
    # One token back at 1 per hour: an hour, give or take the time the test took.
    assert 3500 <= refused.value.retry_after_s <= 3600
    assert admitted(ctx, principal("patient"), 4) == 3  # another patient: a bucket of its own


def test_each_kind_has_its_default_and_services_are_not_metered(ctx):
    assert admitted(ctx, principal("connector"), 7) == 5
    assert admitted(ctx, service_principal("notification"), 50) == 50


def test_failed_attempts_are_counted_per_address(ctx):
    quota.admit_failure(ctx, "198.51.100.9")
    quota.admit_failure(ctx, "198.51.100.9")
    with pytest.raises(TooManyRequests):
        quota.admit_failure(ctx, "198.51.100.9")
    quota.admit_failure(ctx, "2001:db8::9")  # another address


def test_the_bucket_refills_at_its_rate(ctx):
    p = principal("patient")
    assert admitted(ctx, p, 4) == 3
    with ctx.pool.connection() as conn:  # as if two hours had passed since the last read
        conn.execute(
            "UPDATE booking.quota_buckets SET at = at - interval '2 hours' WHERE subject = %s",
            (quota.subject(p.kind, p.id),),
        )
    assert admitted(ctx, p, 4) == 2  # 2 per hour refilled: two tokens, capped by the burst


def test_what_a_read_returned_beyond_one_is_charged(ctx):
    p = principal("connector")
    quota.admit(ctx, p)  # 4 left
    quota.charge_rest(ctx, p, 3)  # a page of 3: 2 more
    assert admitted(ctx, p, 5) == 2
    quota.admit(ctx, q := principal("connector"))
    quota.charge_rest(ctx, q, 40)  # a page larger than the bucket: it owes, reads wait
    assert admitted(ctx, q, 3) == 0


def test_two_booking_processes_share_one_bucket(migrated_database_url):
    """Two pools (two booking replicas), twenty concurrent reads of one connector: exactly its
    burst is served, whichever replica each read reached."""
    pools = [ConnectionPool(migrated_database_url, min_size=2, max_size=5) for _ in range(2)]
    try:
        contexts = [make_ctx(p, {**LIMITS, "connector": Limit(1, 7)}) for p in pools]
        p, served, lock = principal("connector"), [], threading.Lock()

        def read(i: int) -> None:
            try:
                quota.admit(contexts[i % 2], p)
            except TooManyRequests:
                return
            with lock:
                served.append(i % 2)

        threads = [threading.Thread(target=read, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(served) == 7
        # Which replica won each race is chance; that they draw on one bucket is not: a
        # second connector takes 4 through one replica, then only 3 more through the other.
        q = principal("connector")
        for _ in range(4):
            quota.admit(contexts[0], q)
        for _ in range(3):
            quota.admit(contexts[1], q)
        for ctx in contexts:
            with pytest.raises(TooManyRequests):
                quota.admit(ctx, q)
    finally:
        for pool in pools:
            pool.close()


def quota_set(p: Principal, **changes: Any) -> dict[str, Any]:
    """A QuotaSet payload as the consumer receives it (loaded at its latest version)."""
    data = {**EXAMPLES["QuotaSet"], "principal_id": str(p.id), "principal_kind": p.kind}
    dumped = REGISTRY.dump_payload("QuotaSet", {**data, **changes})
    return REGISTRY.load_payload("QuotaSet", REGISTRY.latest_version("QuotaSet"), dumped)


def apply(ctx: Ctx, payload: dict[str, Any], position: int) -> None:
    with ctx.pool.connection() as conn:
        quota.apply_quota_set(conn, payload, uuid.uuid4(), position)


def test_a_quota_set_overrides_the_default_and_a_throttle_expires(ctx):
    p, later = principal("connector"), datetime.now(UTC) + timedelta(hours=1)
    apply(ctx, quota_set(p, per_hour=1, burst=2, until=later, reason="throttle"), 10)
    assert admitted(ctx, p, 5) == 2
    q = principal("connector")
    apply(ctx, quota_set(q, per_hour=1, burst=2, until=datetime(2020, 1, 1, tzinfo=UTC)), 11)
    assert admitted(ctx, q, 6) == 5  # expired: the kind's default again


def test_the_quota_set_last_wins_and_the_operators_returns_after_a_throttle(ctx):
    p, soon = principal("connector"), datetime.now(UTC) + timedelta(hours=1)
    apply(ctx, quota_set(p, per_hour=1, burst=9, until=None, reason="operator"), 20)
    apply(ctx, quota_set(p, per_hour=1, burst=1, until=soon, reason="throttle"), 21)
    apply(ctx, quota_set(p, per_hour=1, burst=8, until=None, reason="operator"), 19)  # stale
    assert admitted(ctx, p, 3) == 1  # the throttle, set last
    with ctx.pool.connection() as conn:  # the throttle ends
        conn.execute(
            "UPDATE booking.quotas SET until = now() - interval '1 s' WHERE principal_id = %s"
            " AND reason = 'throttle'",
            (p.id,),
        )
        conn.execute("UPDATE booking.quota_buckets SET tokens = 9 WHERE subject = %s",
                     (quota.subject(p.kind, p.id),))  # fmt: skip
    assert admitted(ctx, p, 12) == 9  # the operator's 9, not the stale 8 nor the default 5


def test_the_booking_role_may_use_its_quota_tables(migrated_database_url):
    url = psycopg.conninfo.make_conninfo(migrated_database_url, user="carnet_booking")
    with ConnectionPool(url, min_size=1, max_size=2) as pool:
        ctx = make_ctx(pool)
        p = principal("patient")
        apply(ctx, quota_set(p, per_hour=1, burst=1, until=None, reason="operator"), 1)
        quota.admit(ctx, p)
        quota.charge_rest(ctx, p, 2)
        with pytest.raises(TooManyRequests):
            quota.admit(ctx, p)

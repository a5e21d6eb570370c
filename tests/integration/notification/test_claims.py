"""Due messages are leased in batches; what a slow batch could not send in time is given back."""

from __future__ import annotations

import psycopg
from psycopg_pool import ConnectionPool

from services.common.eventstore.store import EventStore
from services.notification.channels import channels_from_config
from services.notification.sender import Sender, SenderSettings
from tests.support.outbox import queue_one
from tests.support.smtp_server import SmtpServer


def _rows(url: str) -> dict:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT notification_id, state, attempts, lease_until IS NOT NULL"
            " FROM notification.outbox"
        ).fetchall()
    return {nid: (state, attempts, leased) for nid, state, attempts, leased in rows}


def _sender(pool: ConnectionPool, smtp_server: SmtpServer, tmp_path, **settings) -> Sender:
    config = {**smtp_server.config, "SMTP_TIMEOUT": 1, "SMS_OUTBOX_PATH": str(tmp_path / "s")}
    return Sender(pool, EventStore(pool, "notification"), channels_from_config(config),
                  SenderSettings(**settings))  # fmt: skip


def test_one_claim_leases_several_and_each_is_sent_once(
    fresh_migrated_database_url, smtp_server, tmp_path
):
    url = fresh_migrated_database_url
    ids = {queue_one(url) for _ in range(4)}
    with ConnectionPool(url, min_size=1, max_size=2, open=True) as pool:
        sender = _sender(pool, smtp_server, tmp_path)
        assert len(sender.claim(3)) == 3  # one statement, three leases
        assert sender.send_due() == 1  # the three are leased: only the fourth is due
    assert sorted(v[:2] for v in _rows(url).values()) == [("pending", 1)] * 3 + [("sent", 1)]
    assert len(smtp_server.messages()) == 1 and len(ids) == 4


def test_claims_a_slow_send_left_too_little_lease_for_are_given_back_uncounted(
    fresh_migrated_database_url, smtp_server, tmp_path
):
    url = fresh_migrated_database_url
    for _ in range(3):
        queue_one(url)
    smtp_server.set_mode("hang")  # the first send times out after 1 s: over half the lease
    with ConnectionPool(url, min_size=1, max_size=2, open=True) as pool:
        assert _sender(pool, smtp_server, tmp_path, lease_s=1.5).send_due() == 1
    rows = sorted(_rows(url).values())
    assert rows == [("pending", 0, False), ("pending", 0, False), ("pending", 1, False)]

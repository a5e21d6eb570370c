"""A database connection lost between the SMTP send and its record: recorded once, sent once.

Found by the chaos runner (`make chaos`): PostgreSQL restarting while the sender recorded a
message the SMTP server had already accepted left the row leased, and the message went out a
second time when the lease expired. The sender now retries the record while its lease holds.
"""

from __future__ import annotations

import psycopg
from psycopg_pool import ConnectionPool

from services.common.eventstore.store import EventStore
from services.notification.channels import channels_from_config
from services.notification.sender import Sender, SenderSettings
from tests.support.outbox import queue_one

TERMINATE_OTHERS = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


class CutAfterSend:
    """The real SMTP channel, then every other connection to the database is cut."""

    def __init__(self, channel, database_url: str) -> None:
        self.channel, self.database_url, self.cuts = channel, database_url, 0
        self.name = channel.name

    def send(self, message):
        provider_id = self.channel.send(message)  # the SMTP server has accepted it
        with psycopg.connect(self.database_url, autocommit=True) as admin:
            self.cuts += len(admin.execute(TERMINATE_OTHERS).fetchall())
        return provider_id


def test_a_connection_lost_after_the_send_is_retried_and_nothing_goes_out_twice(
    migrated_database_url, smtp_server, tmp_path
):
    url = migrated_database_url
    nid = queue_one(url)
    channels = channels_from_config({**smtp_server.config, "SMS_OUTBOX_PATH": str(tmp_path / "s")})
    cutting = CutAfterSend(channels["email"], url)
    with ConnectionPool(url, min_size=1, max_size=1, open=True) as pool:
        sender = Sender(
            pool,
            EventStore(pool, "notification"),
            {**channels, "email": cutting},
            SenderSettings(lease_s=15.0),
        )
        assert sender.send_due() == 1  # the record survived the cut connection
        assert cutting.cuts >= 1
        assert sender.send_due() == 0  # nothing left to send again
    with psycopg.connect(url) as conn:
        state = conn.execute(
            "SELECT state FROM notification.outbox WHERE notification_id = %s", (nid,)
        ).fetchone()[0]
        sent = conn.execute(
            "SELECT count(*) FROM notification.events WHERE event_type = 'NotificationSent'"
        ).fetchone()[0]
    assert state == "sent"
    assert sent == 1
    assert len(smtp_server.messages()) == 1

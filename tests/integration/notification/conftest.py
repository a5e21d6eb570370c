"""A running notification service, its SMTP server and the producers it listens to."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from services.common.logging import configure_logging
from tests.integration.notification.world import World
from tests.support.stack import Stack


@pytest.fixture
def logs() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("test", stream=stream)
    return stream


def service_config(database_url: str, amqp_uri: str, smtp, tmp_path, **extra) -> dict:
    return {
        "AMQP_URI": amqp_uri,
        "DATABASE_URL": database_url,
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": smtp.port,
        "SMTP_TIMEOUT": 2,
        "SMS_OUTBOX_PATH": str(tmp_path / "sms.jsonl"),
        "NOTIFICATION_BACKOFF_SECONDS": 0.2,
        "NOTIFICATION_MAX_ATTEMPTS": 3,
        "NOTIFICATION_LEASE_SECONDS": 2,
        "REMINDER_LEAD_MINUTES": 60,
        "DPO_CONTACT": "dpo@example.org",
        **extra,
    }


@pytest.fixture
def world(fresh_migrated_database_url: str, fresh_broker: str) -> Iterator[World]:
    """Own database and vhost: queues left by another test's service must not feed this one."""
    w = World(fresh_migrated_database_url, fresh_broker).start()
    yield w
    w.close()


@pytest.fixture
def notification(request, world: World, smtp_server, tmp_path, logs) -> Iterator[dict]:
    """The service; a test changes its settings with indirect parametrization."""
    extra = getattr(request, "param", {})
    config = service_config(world.database_url, world.amqp_uri, smtp_server, tmp_path, **extra)
    stack = Stack(world.database_url, world.amqp_uri, ["notification"], {"notification": config})
    stack.start()
    yield stack.config["notification"]
    stack.close()

"""Notification entrypoints: confirmations, reminders and breach notices over SMTP (issue #7)."""

from nameko.dependency_providers import Config

from services.common.nameko_ext.database import DatabasePool
from services.common.nameko_ext.event_store import EventStoreProvider
from services.common.nameko_ext.health import HealthEndpoints
from services.common.nameko_ext.logging_context import LoggingContext
from services.common.nameko_ext.relay_runner import RelayRunner


class NotificationService(HealthEndpoints):
    """Sends each message at most once per triggering event."""

    name = "notification"
    config = Config()
    db = DatabasePool()
    log = LoggingContext()
    store = EventStoreProvider()
    relay = RelayRunner()

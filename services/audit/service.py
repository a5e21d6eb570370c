"""Audit entrypoints: the tamper-evident ledger, replay and investigations (issue #6)."""

from nameko.dependency_providers import Config

from services.common.nameko_ext.database import DatabasePool
from services.common.nameko_ext.event_store import EventStoreProvider
from services.common.nameko_ext.health import HealthEndpoints
from services.common.nameko_ext.logging_context import LoggingContext
from services.common.nameko_ext.relay_runner import RelayRunner


class AuditService(HealthEndpoints):
    """Keeps every event of every service in a hash-chained ledger."""

    name = "audit"
    config = Config()
    db = DatabasePool()
    log = LoggingContext()
    store = EventStoreProvider()
    relay = RelayRunner()

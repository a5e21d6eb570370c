"""What every Carnet service has: config, pool, logs, store, relay, health and metrics."""

from __future__ import annotations

from nameko.dependency_providers import Config

from services.common.nameko_ext.database import DatabasePool
from services.common.nameko_ext.event_store import EventStoreProvider
from services.common.nameko_ext.health import HealthEndpoints
from services.common.nameko_ext.logging_context import LoggingContext
from services.common.nameko_ext.queue_metrics import QueueMetrics
from services.common.nameko_ext.relay_runner import RelayRunner


class CarnetService(HealthEndpoints):
    """Base class: a subclass sets `name` and adds its own entrypoints.

    nameko finds dependency providers and entrypoints on base classes too, and binds a
    fresh copy of each to every container, so sharing these declarations is safe.
    """

    config = Config()
    db = DatabasePool()
    log = LoggingContext()
    store = EventStoreProvider()
    relay = RelayRunner()
    queue_metrics = QueueMetrics()

"""Booking entrypoints: slots, appointments and the recorded FHIR connector interface (issue #5)."""

from nameko.dependency_providers import Config

from services.common.nameko_ext.database import DatabasePool
from services.common.nameko_ext.event_store import EventStoreProvider
from services.common.nameko_ext.health import HealthEndpoints
from services.common.nameko_ext.logging_context import LoggingContext
from services.common.nameko_ext.relay_runner import RelayRunner


class BookingService(HealthEndpoints):
    """Owns agendas and appointments; every read of one is recorded first."""

    name = "booking"
    config = Config()
    db = DatabasePool()
    log = LoggingContext()
    store = EventStoreProvider()
    relay = RelayRunner()

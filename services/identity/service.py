"""Identity entrypoints: practitioners, patients, connectors, grants and tokens (issue #4)."""

from nameko.dependency_providers import Config

from services.common.nameko_ext.database import DatabasePool
from services.common.nameko_ext.event_store import EventStoreProvider
from services.common.nameko_ext.health import HealthEndpoints
from services.common.nameko_ext.logging_context import LoggingContext
from services.common.nameko_ext.relay_runner import RelayRunner


class IdentityService(HealthEndpoints):
    """Owns who is who and who may read what."""

    name = "identity"
    config = Config()
    db = DatabasePool()
    log = LoggingContext()
    store = EventStoreProvider()
    relay = RelayRunner()

"""Hands each worker the service's EventStore on the container's pool."""

from __future__ import annotations

from typing import Any

from nameko.extensions import DependencyProvider

from services.common.eventstore.store import EventStore
from services.common.nameko_ext.database import pool_of


class EventStoreProvider(DependencyProvider):
    """`self.store.append(...)`: the only way a service changes state."""

    def get_dependency(self, worker_ctx: Any) -> EventStore:
        """Built on first use: by then every extension, the pool included, has started."""
        store = getattr(self, "store", None)
        if store is None:
            pool = pool_of(self.container)
            store = self.store = EventStore(pool, self.container.service_name)
        return store

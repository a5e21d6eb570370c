"""Runs the service's store-to-bus relay inside the nameko container, as a managed thread."""

from __future__ import annotations

import threading
from typing import Any

from nameko.extensions import DependencyProvider

from services.common.database_settings import DatabaseSettings
from services.common.eventstore.store import EventStore
from services.common.nameko_ext.database import pool_of
from services.common.relay.relay import Relay
from services.common.relay.routing import routing_key_for


class RelayRunner(DependencyProvider):
    """Every replica runs one; the advisory lock lets exactly one of them publish."""

    def __init__(self, batch_size: int = 500) -> None:
        self.batch_size = batch_size
        self.relay: Relay | None = None

    def setup(self) -> None:
        """Build the relay; it connects only when started."""
        self._stop = threading.Event()

    def start(self) -> None:
        """Spawn the loop; it waits for the pool, since nameko starts extensions concurrently."""
        self._thread = self.container.spawn_managed_thread(self._run, identifier="relay")

    def _run(self) -> None:
        while (pool := pool_of(self.container)) is None or pool.closed:
            if self._stop.is_set():
                return
            self._stop.wait(0.1)
        service = self.container.service_name
        self.relay = Relay(
            store=EventStore(pool, service),
            database_url=DatabaseSettings.from_config(self.container.config).relay_conninfo(
                service
            ),
            schema=service,
            producer=service,
            amqp_uri=self.container.config["AMQP_URI"],
            routing_key_for=routing_key_for,
            batch_size=self.batch_size,
        )
        self.relay.run(self._stop)

    def is_running(self) -> bool:
        """True while the loop's thread lives, leading or standing by (for /health/ready)."""
        thread = getattr(self, "_thread", None)
        return thread is not None and not thread.dead and not self._stop.is_set()

    def stop(self) -> None:
        """Finish the batch in flight; its confirmed position is saved before we return."""
        self._stop.set()
        if self.relay is not None:
            self.relay.stop_waiting()
        if getattr(self, "_thread", None) is not None:
            self._thread.wait()

    def kill(self) -> None:
        """Same as stop: a killed relay loses nothing, the next leader republishes."""
        self._stop.set()
        if self.relay is not None:
            self.relay.stop_waiting()

    def get_dependency(self, worker_ctx: Any) -> Relay | None:
        """Workers may read the relay's stats (health, metrics)."""
        return self.relay

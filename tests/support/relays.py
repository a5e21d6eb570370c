"""Relays in background threads, publishing stores' logs as the services' own relays do."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from services.common.eventstore.store import EventStore
from services.common.relay.relay import Relay
from services.common.relay.routing import routing_key_for


class RelayThreads:
    """One real Relay per (service, store), stopped together."""

    def __init__(self, database_url: str, amqp_uri: str) -> None:
        self.database_url, self.amqp_uri = database_url, amqp_uri
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, stores: Iterable[tuple[str, EventStore]]) -> None:
        """Publish each store's log to `<service>.events`, polling fast (tests wait on it)."""
        for service, store in stores:
            relay = Relay(
                store,
                self.database_url,
                service,
                service,
                self.amqp_uri,
                routing_key_for,
                idle_wait=0.05,
            )
            thread = threading.Thread(target=relay.run, args=(self.stop,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def close(self) -> None:
        """Stop every relay after its batch in flight."""
        self.stop.set()
        for thread in self.threads:
            thread.join(10)

"""The identity service running in-process, audit as a real producer, and a probe on the bus."""

from __future__ import annotations

import io
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from nameko.runners import ServiceRunner
from psycopg_pool import ConnectionPool

from contracts.registry import REGISTRY
from services.common.eventstore.models import NewEvent
from services.common.eventstore.store import EventStore
from services.common.relay.relay import Relay
from services.common.relay.routing import routing_key_for
from services.identity.service import IdentityService
from tests.contract.examples import EXAMPLES
from tests.support.amqp import drain, probe_queue
from tests.support.ports import free_port

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
PROBE = "test.probe.identity"


class World:
    """Runs IdentityService; audit's store and relay produce SuspiciousAccessDetected."""

    def __init__(self, database_url: str, amqp_uri: str, logs: io.StringIO, **config: Any) -> None:
        self.database_url, self.amqp_uri, self.logs = database_url, amqp_uri, logs
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.config = {
            "AMQP_URI": amqp_uri,
            "DATABASE_URL": database_url,
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.port}",
            "CARNET_ADMIN_TOKEN": ADMIN_TOKEN,
            "IDENTITY_SUSPEND_ON_RULES": "D4_probing,D3_outside_grant",
            **config,
        }
        self.pool = ConnectionPool(database_url, min_size=1, max_size=4)
        self.audit = EventStore(self.pool, "audit")
        self.stop = threading.Event()
        self.runner = ServiceRunner(self.config)
        self.runner.add_service(IdentityService)
        self.thread: threading.Thread | None = None

    def start(self) -> World:
        probe_queue(self.amqp_uri, PROBE, "identity.events")
        relay = Relay(
            self.audit,
            self.database_url,
            "audit",
            "audit",
            self.amqp_uri,
            routing_key_for,
            idle_wait=0.05,
        )
        self.thread = threading.Thread(target=relay.run, args=(self.stop,), daemon=True)
        self.thread.start()
        self.runner.start()
        return self

    def close(self) -> None:
        self.runner.stop()
        self.stop.set()
        if self.thread:
            self.thread.join(10)
        self.pool.close()

    def bus_messages(self, at_least: int) -> list[tuple[Any, bytes]]:
        """Everything identity's relay published so far (the probe queue is drained)."""
        return drain(self.amqp_uri, PROBE, until=at_least, timeout=15)

    # -- HTTP -------------------------------------------------------------------------------
    def post(self, path: str, body: Any = None, token: str | None = ADMIN_TOKEN, **kw: Any):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.post(f"{self.base}{path}", json=body, headers=headers, timeout=30, **kw)

    def get(self, path: str, token: str | None = ADMIN_TOKEN):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(f"{self.base}{path}", headers=headers, timeout=30)

    def token(self, client_id: str, secret: str, **extra: str):
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            **extra,
        }
        return requests.post(f"{self.base}/oauth/token", data=form, timeout=30)

    # -- audit ------------------------------------------------------------------------------
    def detect(self, connector_id: str, rule: str) -> str:
        """Audit's detection, appended to audit's store; its relay publishes it."""
        now = datetime.now(UTC)
        detection = str(uuid.uuid4())
        example = EXAMPLES["SuspiciousAccessDetected"]
        payload = {
            **example,
            "detection_id": detection,
            "rule": rule,
            "connector_id": connector_id,
            "evidence": {
                **example["evidence"],
                "window_start": (now - timedelta(minutes=5)).isoformat(),
                "window_end": now.isoformat(),
                "summary": f"{rule}: synthetic detection for the identity tests",
            },
        }
        event = NewEvent(
            uuid.uuid4(),
            "SuspiciousAccessDetected",
            REGISTRY.latest_version("SuspiciousAccessDetected"),
            REGISTRY.dump_payload("SuspiciousAccessDetected", payload),
            {"correlation_id": f"corr-{detection[:8]}"},
        )
        self.audit.append(f"detection-{detection}", [event], expected_version=None)
        return detection

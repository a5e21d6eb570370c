"""The identity service running in-process, audit as a real producer, and a probe on the bus."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from contracts.registry import REGISTRY
from services.common.eventstore.models import NewEvent
from services.common.eventstore.store import EventStore
from tests.contract.examples import EXAMPLES
from tests.support.amqp import drain, probe_queue
from tests.support.relays import RelayThreads
from tests.support.stack import ADMIN_TOKEN, Stack

PROBE = "test.probe.identity"


class World:
    """Runs IdentityService; audit's store and relay produce SuspiciousAccessDetected V3."""

    def __init__(self, database_url: str, amqp_uri: str, logs: io.StringIO, **config: Any) -> None:
        self.database_url, self.amqp_uri, self.logs = database_url, amqp_uri, logs
        identity = dict(config)
        self.stack = Stack(database_url, amqp_uri, ["identity"], {"identity": identity})
        self.base = self.stack.url("identity")
        self.audit = EventStore(self.stack.pool, "audit")
        self.relays = RelayThreads(database_url, amqp_uri)

    def start(self) -> World:
        probe_queue(self.amqp_uri, PROBE, "identity.events")
        self.relays.start([("audit", self.audit)])
        self.stack.start()
        return self

    def close(self) -> None:
        self.relays.close()  # before the stack's pool, which its store reads through
        self.stack.close()

    def bus_messages(self, at_least: int) -> list[tuple[Any, bytes]]:
        """Everything identity's relay published so far (the probe queue is drained)."""
        return drain(self.amqp_uri, PROBE, until=at_least, timeout=15)

    # -- HTTP -------------------------------------------------------------------------------
    def post(
        self, path: str, body: Any = None, token: str | None = ADMIN_TOKEN, **kw: Any
    ) -> requests.Response:
        return self.stack.request("identity", "POST", path, token, json=body, **kw)

    def put(
        self, path: str, body: Any = None, token: str | None = ADMIN_TOKEN
    ) -> requests.Response:
        return self.stack.request("identity", "PUT", path, token, json=body)

    def get(self, path: str, token: str | None = ADMIN_TOKEN) -> requests.Response:
        return self.stack.request("identity", "GET", path, token)

    def token(self, client_id: str, secret: str, **extra: str) -> requests.Response:
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            **extra,
        }
        return requests.post(f"{self.base}/oauth/token", data=form, timeout=30)

    # -- audit ------------------------------------------------------------------------------
    def detect(
        self,
        principal_id: str,
        action: str = "suspend",
        kind: str = "connector",
        linked: tuple[str, ...] = (),
        rule: str = "D4_probing",
    ) -> str:
        """Audit's finding (V3), appended to audit's store; its relay publishes it."""
        now = datetime.now(UTC)
        detection = str(uuid.uuid4())
        example = EXAMPLES["SuspiciousAccessDetected"]
        payload = {
            **example,
            "detection_id": detection,
            "rule": rule,
            "principal_kind": kind,
            "principal_id": principal_id,
            "connector_id": principal_id if kind == "connector" else None,
            "recommended_action": action,
            "linked_principal_ids": list(linked),
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

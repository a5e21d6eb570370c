"""Any subset of the four services in-process on one database and vhost: the tests' system.

Each service runs in a nameko ServiceRunner of its own, as `carnet up` runs one process per
service, with its HTTP edge on a port of its own and test values for its keys and secrets.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests
from nameko.runners import ServiceRunner
from psycopg_pool import ConnectionPool

from services.audit.service import AuditService
from services.audit.signing import new_seed
from services.booking.crypto import generate_master_key_b64
from services.booking.service import BookingService
from services.common.config import service_database_url, shipped_defaults
from services.identity.service import IdentityService
from services.notification.service import NotificationService
from tests.support.people import IdentityClient
from tests.support.ports import free_port

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
CLASSES: dict[str, type] = {
    "identity": IdentityService,
    "booking": BookingService,
    "notification": NotificationService,
    "audit": AuditService,
}
# Consumers of identity's events start first: identity publishes from its first request on.
START_ORDER = ("audit", "notification", "booking", "identity")


def service_defaults(service: str, admin_token: str) -> dict[str, Any]:
    """What a service needs besides its database and broker, with throwaway test values."""
    return {
        "identity": {"CARNET_ADMIN_TOKEN": admin_token},
        "booking": {
            "BOOKING_MASTER_KEY": generate_master_key_b64(),
            **shipped_defaults("booking", "BOOKING_QUOTA_"),
        },
        # Nothing listens there unless the test says otherwise: sends fail fast.
        "notification": {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": free_port(), "SMTP_TIMEOUT": 1},
        "audit": {
            "AUDIT_SIGNING_KEY": new_seed(),
            "AUDIT_SIGNING_KEY_ID": "test",
            "LEDGER_CHECKPOINT_SECONDS": 60,
        },
    }[service]


class Stack:
    """`services` on `database_url` and `amqp_uri`; `config` adds to or overrides a service's."""

    def __init__(
        self,
        database_url: str,
        amqp_uri: str,
        services: Iterable[str],
        config: dict[str, dict[str, Any]] | None = None,
        admin_token: str = ADMIN_TOKEN,
    ) -> None:
        wanted = set(services)
        if wanted - set(CLASSES):
            raise ValueError(f"unknown services: {sorted(wanted - set(CLASSES))}")
        self.database_url, self.amqp_uri, self.admin_token = database_url, amqp_uri, admin_token
        self.services = tuple(s for s in START_ORDER if s in wanted)
        self.ports = {s: free_port() for s in self.services}
        self.config = {
            s: {
                "AMQP_URI": amqp_uri,
                # Each service as its own role, as `carnet up` runs it (DESIGN principle 9).
                "DATABASE_URL": service_database_url(database_url, s, {}),
                "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.ports[s]}",
                **service_defaults(s, admin_token),
                **(config or {}).get(s, {}),
            }
            for s in self.services
        }
        self.runners: dict[str, ServiceRunner] = {}
        self.pool = ConnectionPool(database_url, min_size=1, max_size=4, open=True)
        self.identity = IdentityClient(self.url("identity"), admin_token)

    def url(self, service: str) -> str:
        """Where `service` answers HTTP."""
        return f"http://127.0.0.1:{self.ports.get(service, 0)}"

    def start(self) -> Stack:
        """Start every service in START_ORDER; stop those started if one fails to."""
        try:
            for service in self.services:
                runner = ServiceRunner(self.config[service])
                runner.add_service(CLASSES[service])
                self.runners[service] = runner
                runner.start()
        except BaseException:
            self.close(kill=True)  # a runner that failed to start may not stop cleanly
            raise
        return self

    def close(self, kill: bool = False) -> None:
        """Stop the services, last started first, and close the pool."""
        for service in reversed(self.services):
            runner = self.runners.pop(service, None)
            if runner is not None:
                runner.kill() if kill else runner.stop()
        self.pool.close()

    def alive(self) -> bool:
        """No container died (a crash in a consumer kills it)."""
        return all(not c._died.ready() for r in self.runners.values() for c in r.containers)

    def request(
        self, service: str, method: str, path: str, token: str | None = None, **kw: Any
    ) -> requests.Response:
        """One HTTP request to `service`, with a bearer token if given."""
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = f"{self.url(service)}{path}"
        return requests.request(method, url, headers=headers, timeout=30, **kw)

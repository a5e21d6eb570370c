"""identity running in-process, so a service under test can check bearer tokens with it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nameko.runners import ServiceRunner

from services.identity.service import IdentityService
from tests.support.processes import free_port


@contextmanager
def identity_running(database_url: str, amqp_uri: str, admin_token: str) -> Iterator[str]:
    """identity on its own port, `admin_token` its bootstrap admin; yields its base URL."""
    port = free_port()
    runner = ServiceRunner(
        {
            "AMQP_URI": amqp_uri,
            "DATABASE_URL": database_url,
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
            "CARNET_ADMIN_TOKEN": admin_token,
        }
    )
    runner.add_service(IdentityService)
    runner.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        runner.stop()

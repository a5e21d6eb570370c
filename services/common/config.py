"""Settings read from the environment, so one image runs anywhere (twelve-factor)."""

from __future__ import annotations

import os
from dataclasses import dataclass

SERVICES: tuple[str, ...] = ("identity", "booking", "notification", "audit")

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/carnet"
DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_HTTP_PORTS: dict[str, int] = {
    "identity": 8001,
    "booking": 8002,
    "notification": 8003,
    "audit": 8004,
}


@dataclass(frozen=True)
class Settings:
    """What a process needs to find its database and broker."""

    database_url: str
    amqp_uri: str

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read DATABASE_URL and AMQP_URI, falling back to this machine's local services."""
        env = dict(os.environ) if env is None else env
        return cls(
            database_url=env.get("DATABASE_URL", DEFAULT_DATABASE_URL),
            amqp_uri=env.get("AMQP_URI", DEFAULT_AMQP_URI),
        )


def http_port(service: str, env: dict[str, str] | None = None) -> int:
    """The HTTP port a service listens on: <SERVICE>_HTTP_PORT or its default."""
    env = dict(os.environ) if env is None else env
    return int(env.get(f"{service.upper()}_HTTP_PORT", DEFAULT_HTTP_PORTS[service]))

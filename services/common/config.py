"""Settings read from the environment, so one image runs anywhere (twelve-factor)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

SERVICES: tuple[str, ...] = ("identity", "booking", "notification", "audit")
AUDITOR = "auditor"  # carnet_auditor: reads the ledger and every store for verify, writes nothing

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


def service_database_url(admin_url: str, service: str, env: dict[str, str] | None = None) -> str:
    """The URL `service` connects with: its own role (carnet_<service>), never the admin's.

    `<SERVICE>_DATABASE_URL` wins when set; otherwise the admin URL's host and database with
    the service's role, and its password from `<SERVICE>_DB_PASSWORD` when set (`carnet db
    migrate` sets the same one; a local server that trusts its users needs none).
    """
    env = dict(os.environ) if env is None else env
    explicit = env.get(f"{service.upper()}_DATABASE_URL")
    if explicit:
        return explicit
    parts = urlsplit(admin_url)
    password = env.get(f"{service.upper()}_DB_PASSWORD")
    user = f"carnet_{service}" + (f":{quote(password, safe='')}" if password else "")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{user}@{host}", parts.path, parts.query, parts.fragment))


def shipped_defaults(service: str, prefix: str) -> dict[str, str]:
    """The defaults `services/<service>/config.yaml` ships for its keys starting with `prefix`
    (`KEY: ${KEY:default}`): what in-process tests and benchmarks run, never a copy of them."""
    text = (Path(__file__).resolve().parents[1] / service / "config.yaml").read_text()
    found = re.findall(rf"^({prefix}\w*): \$\{{\w+:([^}}]*)\}}$", text, re.MULTILINE)
    return dict(found)

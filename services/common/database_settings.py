"""How a service process reaches PostgreSQL: pool size, the relay's session URL, the pooler.

The budget per replica (docs/deploy.md "Connections"): its pool's `DATABASE_POOL_MAX_SIZE`,
plus the relay's session connections on `RELAY_DATABASE_URL` (one for leadership on every
replica, two more on the leader). Every connection names its service, role and replica in
`application_name`, so `pg_stat_activity` shows who holds what.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg.conninfo import make_conninfo

from services.common.config import DEFAULT_DATABASE_URL
from services.common.instance import instance_id

POOLERS = ("none", "pgbouncer-transaction")
DEFAULT_POOL_MIN, DEFAULT_POOL_MAX = 1, 10


def _int(config: Mapping[str, Any], key: str, default: int) -> int:
    value = config.get(key)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a whole number, not {value!r}") from None


def application_name(service: str, role: str) -> str:
    """`<service>:<role>:<instance>`, within PostgreSQL's 63 bytes."""
    return f"{service}:{role}:{instance_id()}"[:63]


@dataclass(frozen=True)
class DatabaseSettings:
    """`DATABASE_*` and `RELAY_DATABASE_URL` from a service's config, checked at start."""

    url: str
    session_url: str  # the relay's: a real session on the primary (advisory lock, LISTEN)
    pool_min: int
    pool_max: int
    pooler: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DatabaseSettings:
        """Read and check; a bad value stops the service with its name and the allowed ones."""
        url = config.get("DATABASE_URL") or DEFAULT_DATABASE_URL
        pool_min = _int(config, "DATABASE_POOL_MIN_SIZE", DEFAULT_POOL_MIN)
        pool_max = _int(config, "DATABASE_POOL_MAX_SIZE", DEFAULT_POOL_MAX)
        if pool_min < 0 or pool_max < max(1, pool_min):
            raise ValueError(
                f"DATABASE_POOL_MIN_SIZE={pool_min}, DATABASE_POOL_MAX_SIZE={pool_max}: "
                "need 0 <= min <= max and max >= 1"
            )
        pooler = str(config.get("DATABASE_POOLER") or "none")
        if pooler not in POOLERS:
            raise ValueError(f"DATABASE_POOLER={pooler!r}: one of {', '.join(POOLERS)}")
        session = config.get("RELAY_DATABASE_URL") or url
        return cls(url, session, pool_min, pool_max, pooler)

    def pool_kwargs(self, service: str) -> dict[str, Any]:
        """Connection arguments of the pool: behind PgBouncer's transaction pooling, no
        server-side prepared statements (psycopg prepares a query after 5 runs)."""
        kwargs: dict[str, Any] = {
            "connect_timeout": 5,
            "application_name": application_name(service, "pool"),
        }
        if self.pooler == "pgbouncer-transaction":
            kwargs["prepare_threshold"] = None
        return kwargs

    def relay_conninfo(self, service: str) -> str:
        """The relay's session URL with its application_name (lock, LISTEN and position)."""
        return make_conninfo(self.session_url, application_name=application_name(service, "relay"))

"""A throwaway database and RabbitMQ vhost per benchmark run, and what machine it ran on."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import platform
import secrets
import signal
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from itertools import count
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from services.common.eventstore.migrate import ensure_database, migrate

# The role create_event_store grants to; the benchmark itself connects as the superuser.
SERVICE_ROLE = "carnet_booking"


@dataclass(frozen=True)
class Servers:
    """Where PostgreSQL and RabbitMQ answer (the local ones by default)."""

    pg_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    amqp_host: str = "127.0.0.1"
    amqp_port: int = 5672
    mgmt_url: str = "http://127.0.0.1:15672"
    amqp_user: str = "guest"
    amqp_password: str = "guest"


@dataclass
class BenchEnv:
    """One run's database and vhost; fresh_schema() lays out a new, empty event store."""

    servers: Servers
    name: str
    database_url: str
    amqp_uri: str
    _schemas: Iterator[int]

    def fresh_schema(self, with_raw: bool = True) -> str:
        """A new event store schema (create_event_store) plus raw_events LIKE its events table."""
        schema = f"bench_{next(self._schemas)}"
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute("CALL carnet.create_event_store(%s, %s)", (schema, SERVICE_ROLE))
            if with_raw:
                # Same columns, defaults, identity, CHECKs, keys and indexes; not the triggers
                # (append-only guards, which fire on UPDATE/DELETE/TRUNCATE, never on INSERT).
                conn.execute(
                    sql.SQL("CREATE TABLE {s}.raw_events (LIKE {s}.events INCLUDING ALL)").format(
                        s=sql.Identifier(schema)
                    )
                )
        return schema

    def checkpoint(self) -> None:
        """Flush dirty pages so a checkpoint does not land in the middle of a measurement."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")


def _mgmt(servers: Servers, method: str, path: str, body: dict | None = None) -> bytes:
    """One call to the RabbitMQ management API."""
    auth = base64.b64encode(f"{servers.amqp_user}:{servers.amqp_password}".encode()).decode()
    request = urllib.request.Request(
        servers.mgmt_url + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def _drop_database(pg_url: str, name: str) -> None:
    """DROP DATABASE ... WITH (FORCE): also ends sessions a killed worker may have left."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def bench_database(pg_url: str, prefix: str) -> Iterator[str]:
    """<prefix>_<random>, migrated, for a benchmark without RabbitMQ; dropped on exit, on
    Ctrl-C and SIGTERM too."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    url = urlunsplit(urlsplit(pg_url)._replace(path=f"/{name}"))
    try:
        ensure_database(url)
        migrate(url)
        yield url
    finally:
        # A second Ctrl-C or SIGTERM must not leave gigabytes behind: while the database is
        # dropped, the signals are only noted, and raised once it is gone.
        held: list[int] = []
        stops = (signal.SIGINT, signal.SIGTERM)
        previous = {s: signal.signal(s, lambda n, _f: held.append(n)) for s in stops}
        try:
            _drop_database(pg_url, name)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if held:
            raise KeyboardInterrupt(f"signal {held[0]}")


@contextlib.contextmanager
def bench_env(servers: Servers) -> Iterator[BenchEnv]:
    """Create carnet_bench_<random> (migrated) and a vhost of that name; remove both on exit."""
    name = f"carnet_bench_{secrets.token_hex(4)}"
    url = urlunsplit(urlsplit(servers.pg_url)._replace(path=f"/{name}"))
    amqp_uri = (
        f"amqp://{servers.amqp_user}:{servers.amqp_password}@{servers.amqp_host}:"
        f"{servers.amqp_port}/{quote(name, safe='')}"
    )
    try:
        ensure_database(url)
        migrate(url)
        _mgmt(servers, "PUT", f"/api/vhosts/{name}", {})
        _mgmt(
            servers,
            "PUT",
            f"/api/permissions/{name}/{servers.amqp_user}",
            {"configure": ".*", "write": ".*", "read": ".*"},
        )
        yield BenchEnv(servers, name, url, amqp_uri, count(1))
    finally:
        try:
            _mgmt(servers, "DELETE", f"/api/vhosts/{name}")
        except Exception as exc:  # the broker may be down: say what is left behind
            print(f"could not delete vhost {name}: {exc}", file=sys.stderr)
        _drop_database(servers.pg_url, name)


def _cpu_model() -> str:
    """The CPU model named in /proc/cpuinfo."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    """MemTotal from /proc/meminfo, in GiB."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def load_average() -> str:
    """The load averages: others' work on a shared machine shows here."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def database_machine(
    url: str, settings: tuple[str, ...], packages: tuple[str, ...], memory: bool = False
) -> dict[str, str]:
    """What a database-only benchmark's figures depend on: cores, the server, the settings
    it names (as SHOW prints them), and the packages it measures."""
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        shown = conn.execute(
            "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name)"
            " FROM pg_settings WHERE name = ANY(%s)",
            (list(settings),),
        ).fetchone()[0]
    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _cpu_model(),
    }
    if memory:
        info["memory"] = _memory()
    return {
        **info,
        "postgresql": version,
        "postgresql settings": shown,
        "python": platform.python_version(),
        "packages": ", ".join(f"{p} {metadata.version(p)}" for p in packages),
    }


def machine_info(env: BenchEnv) -> dict[str, str]:
    """What the figures depend on: hardware, server versions and durability settings."""
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
        settings = dict(
            conn.execute(
                "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN"
                " ('fsync', 'synchronous_commit', 'shared_buffers', 'wal_sync_method')"
            ).fetchall()
        )
    overview = json.loads(_mgmt(env.servers, "GET", "/api/overview"))
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "memory": _memory(),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "postgresql": pg_version,
        "postgresql settings": ", ".join(f"{k}={v}" for k, v in sorted(settings.items())),
        "rabbitmq": f"{overview.get('rabbitmq_version')} (Erlang {overview.get('erlang_version')})",
        "python": platform.python_version(),
        "packages": ", ".join(
            f"{p} {metadata.version(p)}" for p in ("psycopg", "psycopg-pool", "pika")
        ),
    }

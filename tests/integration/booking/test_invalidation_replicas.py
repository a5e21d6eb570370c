"""Two `carnet run` booking replicas: a suspended connector is refused by both within a second,
because each replica drops it from its own cache (issue #24: a shared queue told one)."""

from __future__ import annotations

import io
import json
import subprocess
import time
from pathlib import Path

import pytest
import requests

from services.booking.crypto import generate_master_key_b64
from services.common.broker import queue_name
from services.common.config import service_database_url
from tests.integration.identity.world import World
from tests.support.poll import eventually
from tests.support.ports import free_port
from tests.support.processes import listed_queues, run_service, stop_processes

SHARED = queue_name("booking", "on_access_revoked")


def own_queues(amqp_uri: str) -> dict[str, int]:
    """Each booking process's own invalidation queue on the test's vhost, and its consumers
    (exclusive queues: only the management API sees them from here)."""
    return listed_queues(amqp_uri, SHARED + ".")


@pytest.fixture
def world(fresh_migrated_database_url, fresh_broker):
    w = World(fresh_migrated_database_url, fresh_broker, io.StringIO()).start()
    yield w
    w.close()


def start_booking(world: World, port: int, log: Path) -> subprocess.Popen:
    env = {
        "DATABASE_URL": service_database_url(world.database_url, "booking", {}),
        "AMQP_URI": world.amqp_uri,
        "BOOKING_MASTER_KEY": generate_master_key_b64(),
        "BOOKING_HTTP_ADDRESS": f"127.0.0.1:{port}",
        "BOOKING_PRINCIPAL_TTL_SECONDS": "1",  # the longest allowed: the event must beat it
    }
    return run_service("booking", env, log)


def status(port: int, token: str) -> int:
    r = requests.get(
        f"http://127.0.0.1:{port}/fhir/Appointment",
        params={"date": "ge2030-01-01"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    return r.status_code


def dropped(log: Path) -> list[dict]:
    lines = (json.loads(x) for x in log.read_text().splitlines() if x.startswith("{"))
    return [x for x in lines if x.get("event") == "principals.dropped"]


def test_both_replicas_forget_a_suspended_connector(world, tmp_path):
    ports = [free_port(), free_port()]
    logs = [tmp_path / "booking-1.log", tmp_path / "booking-2.log"]
    procs = [start_booking(world, port, log) for port, log in zip(ports, logs, strict=True)]
    try:
        eventually(
            lambda: sorted(own_queues(world.amqp_uri).values()) == [1, 1],
            60,
            "each replica consuming its own invalidation queue",
            interval=0.2,
        )
        c = world.post(
            "/v1/connectors", {"name": "R", "vendor": "V", "contact_email": "r@example.org"}
        ).json()
        token = world.token(c["client_id"], c["client_secret"]).json()["access_token"]
        before = [status(port, token) for port in ports]  # each replica caches the principal
        assert 401 not in before, before

        started = time.monotonic()
        assert world.post(f"/v1/connectors/{c['connector_id']}/suspend", {}).status_code == 200
        refused_after: dict[int, float] = {}
        while len(refused_after) < 2 and time.monotonic() - started < 5:
            for port in ports:
                if port not in refused_after and status(port, token) == 401:
                    refused_after[port] = time.monotonic() - started
            time.sleep(0.02)
        print(f"refused after {sorted(round(s, 3) for s in refused_after.values())} s")
        assert len(refused_after) == 2 and max(refused_after.values()) < 1.0, refused_after
        # Each replica dropped the entry on the event itself, not by its TTL running out.
        for log in logs:
            eventually(
                lambda log=log: any(
                    x["event_type"] == "ConnectorSuspended" and x["dropped"] >= 1
                    for x in dropped(log)
                ),
                10,
                f"{log.name} consumed the suspension",
            )
        assert SHARED not in listed_queues(world.amqp_uri, SHARED)  # no shared queue any more
    finally:
        stop_processes(procs, grace=20)
    # A replica's queue goes with it: nothing piles up for a process that is gone.
    eventually(lambda: own_queues(world.amqp_uri) == {}, 30, "the replicas' queues deleted")

"""Fixtures for relay tests: a store on the module's database and a relay process launcher."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from services.common.eventstore.store import EventStore
from tests.support.amqp import probe_queue

CARNET = str(Path(sys.executable).parent / "carnet")


@pytest.fixture(scope="module")
def store(pool: ConnectionPool) -> EventStore:
    return EventStore(pool, "booking")


@pytest.fixture
def probe(broker: str) -> str:
    """A fresh queue bound to every booking event."""
    name = f"probe-{uuid.uuid4().hex[:8]}"
    probe_queue(broker, name, "booking.events")
    return name


class RelayProcesses:
    """Starts `carnet relay run --service booking` processes; kills them at the end."""

    def __init__(self, database_url: str, amqp_uri: str, log_dir: Path) -> None:
        self.database_url, self.amqp_uri, self.log_dir = database_url, amqp_uri, log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, label: str, batch_size: int = 200) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.log_dir / f"relay-{label}.log"
        env = {**os.environ, "DATABASE_URL": self.database_url, "AMQP_URI": self.amqp_uri}
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [CARNET, "relay", "run", "--service", "booking", "--batch-size", str(batch_size)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(proc)
        return proc, log

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()


@pytest.fixture
def relays(migrated_database_url: str, broker: str, tmp_path: Path) -> Iterator[RelayProcesses]:
    r = RelayProcesses(migrated_database_url, broker, tmp_path)
    yield r
    r.stop_all()

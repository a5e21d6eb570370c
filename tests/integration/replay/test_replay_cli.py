"""`carnet replay`: streams decoded and upcast, as of an instant; exports in log order."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

from click.testing import CliRunner
from psycopg_pool import ConnectionPool

from services.cli.main import cli
from services.common.eventstore.models import NewEvent
from services.common.eventstore.store import EventStore
from tests.contract.examples import PATIENT_REGISTERED_V1
from tests.support.events import new_event
from tests.support.eventstore import wait_until_readable


def test_stream_is_upcast_and_as_of_shows_the_past(migrated_database_url):
    with ConnectionPool(migrated_database_url, min_size=1, max_size=2) as pool:
        store = EventStore(pool, "identity")
        stream = f"patient-{uuid.uuid4()}"
        v1 = NewEvent(uuid.uuid4(), "PatientRegistered", 1, dict(PATIENT_REGISTERED_V1), {})
        store.append(stream, [v1], expected_version=0)
        time.sleep(0.05)
        between = datetime.now(UTC)
        time.sleep(0.05)
        store.append(stream, [new_event("PatientRegistered")], expected_version=1)

    run = CliRunner().invoke
    args = [
        "replay",
        "stream",
        stream,
        "--service",
        "identity",
        "--database-url",
        migrated_database_url,
    ]
    now = run(cli, args)
    assert now.exit_code == 0, now.output
    lines = [json.loads(x) for x in now.output.splitlines()]
    assert [x["stream_version"] for x in lines] == [1, 2]
    first = lines[0]
    assert first["stored_version"] == 1 and first["version"] == 3  # upcast on read, not stored
    assert first["payload"]["given_name"] == "Test" and "name" not in first["payload"]

    then = run(cli, [*args, "--as-of", between.isoformat()])
    assert [json.loads(x)["stream_version"] for x in then.output.splitlines()] == [1]
    table = run(cli, [*args, "--format", "table"])
    assert "v1->v3" in table.output
    naive = run(cli, [*args, "--as-of", "2026-01-01T00:00:00"])
    assert naive.exit_code != 0 and "time zone" in naive.output


def test_export_writes_the_window_as_ndjson_in_log_order(migrated_database_url, tmp_path):
    with ConnectionPool(migrated_database_url, min_size=1, max_size=2) as pool:
        store = EventStore(pool, "booking")
        store.append(f"appointment-{uuid.uuid4()}", [new_event()], expected_version=0)
        start = datetime.now(UTC)
        ids = []
        for _ in range(5):
            event = new_event()
            ids.append(str(event.event_id))
            last = store.append(f"appointment-{uuid.uuid4()}", [event], expected_version=0)
        # Readable once no older writing transaction runs on the server (ADR 0003).
        wait_until_readable(store, last.positions[-1])
    out = tmp_path / "booking.ndjson"
    result = CliRunner().invoke(
        cli,
        [
            "replay",
            "export",
            "--service",
            "booking",
            "--from",
            start.isoformat(),
            "--output",
            str(out),
            "--database-url",
            migrated_database_url,
        ],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["event_id"] for x in lines] == ids
    positions = [x["position"] for x in lines]
    assert positions == sorted(positions)

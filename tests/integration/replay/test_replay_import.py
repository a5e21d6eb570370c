"""`carnet replay import`: an export loaded into a scratch database reproduces its streams."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from click.testing import CliRunner
from psycopg_pool import ConnectionPool

from contracts.registry import REGISTRY
from services.cli.main import cli
from services.common.eventstore.models import NewEvent
from services.common.eventstore.store import EventStore
from services.ops.replay import decoded
from services.ops.replay_import import scratch_refusal
from tests.contract.examples import PATIENT_REGISTERED_V1
from tests.support.events import new_event
from tests.support.infra import PG_ADMIN_URL, database_url_for, drop_database
from tests.support.poll import eventually

# Other runs on this PostgreSQL server can hold the snapshot xmin back for minutes (ADR 0003).
READABLE_TIMEOUT = 300.0
pytestmark = pytest.mark.timeout(900)
SERVICE = "identity"


def _exists(url: str) -> bool:
    name = url.rpartition("/")[2]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        return bool(
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        )


def _log_state(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            f"SELECT position, event_id, stream_id, stream_version FROM {SERVICE}.events"
            " ORDER BY position"
        ).fetchall()


@pytest.fixture
def scratch_url():
    url = database_url_for(f"carnet_scratch_{uuid.uuid4().hex[:10]}")
    yield url
    drop_database(url)


def test_scratch_rule():
    prod = "postgresql://postgres@db:5432/carnet"
    assert scratch_refusal("postgresql://postgres@x/carnet_scratch_1", prod) is None
    assert "lacks 'scratch'" in scratch_refusal("postgresql://postgres@x/carnet_copy", prod)
    assert "$DATABASE_URL" in scratch_refusal("postgresql://other@y/carnet", prod)
    same = "postgresql://postgres@db/my_scratch"
    assert "$DATABASE_URL" in scratch_refusal(same, same)


def test_export_then_import_reproduces_the_streams(migrated_database_url, scratch_url, tmp_path):
    source = migrated_database_url
    start = datetime.now(UTC)
    streams: list[str] = []
    with ConnectionPool(source, min_size=1, max_size=2) as pool:
        store = EventStore(pool, SERVICE)
        patient = f"patient-{uuid.uuid4()}"
        old = NewEvent(uuid.uuid4(), "PatientRegistered", 1, dict(PATIENT_REGISTERED_V1), {})
        store.append(patient, [old], expected_version=0)  # stored at v1, exported upcast
        store.append(patient, [new_event("TokenIssued"), new_event("TokenIssued")], 1)
        connector = f"connector-{uuid.uuid4()}"
        for version, kind in enumerate(
            ["ConnectorRegistered", "ConnectorAuthorized", "ConnectorSuspended"]
        ):
            store.append(connector, [new_event(kind)], expected_version=version)
        staff = f"staff-{uuid.uuid4()}"
        last = store.append(staff, [new_event("StaffRegistered")], expected_version=0)
        streams = [patient, connector, staff]
        eventually(
            lambda: (
                not store.count_pending_after(store.head())
                and store.head().position >= last.positions[0]
            ),
            READABLE_TIMEOUT,
            "the appended events to become readable",
        )
        before = {s: store.read_stream(s) for s in streams}

    export = tmp_path / "identity.ndjson"
    run = CliRunner().invoke
    result = run(
        cli,
        ["replay", "export", "--service", SERVICE, "--from", start.isoformat(),
         "--output", str(export), "--database-url", source],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(export.read_text().splitlines()) == 7

    args = ["replay", "import", str(export), "--database-url", scratch_url]
    first = run(cli, args)  # no --service: inferred from the event types
    assert first.exit_code == 0, first.output
    assert "imported 7 events, 0 already stored, 3 streams" in first.output
    with ConnectionPool(scratch_url, min_size=1, max_size=2) as pool:
        scratch = EventStore(pool, SERVICE)
        after = {s: scratch.read_stream(s) for s in streams}
    for stream in streams:
        got, want = after[stream], before[stream]
        assert [(e.event_id, e.stream_version, e.event_type) for e in got] == [
            (e.event_id, e.stream_version, e.event_type) for e in want
        ]
        for g, w in zip(got, want, strict=True):
            assert g.metadata.get("correlation_id") == w.metadata.get("correlation_id")
            # Payloads as the contracts deliver them: identical; stored at the latest version.
            assert decoded(g)["payload"] == decoded(w)["payload"]
            assert g.schema_version == REGISTRY.latest_version(g.event_type)
            if w.schema_version == g.schema_version:
                assert g.data == w.data
    assert before[patient][0].schema_version == 1  # the one upcast on export

    state = _log_state(scratch_url)
    again = run(cli, [*args, "--service", SERVICE])
    assert again.exit_code == 0, again.output
    assert "imported 0 events, 7 already stored" in again.output
    assert _log_state(scratch_url) == state

    # A stream cut by an export window cannot be imported: said clearly, nothing appended.
    line = json.loads(export.read_text().splitlines()[-1])
    cut = tmp_path / "cut.ndjson"
    cut.write_text(
        json.dumps(
            {**line, "event_id": str(uuid.uuid4()), "stream": "staff-x", "stream_version": 2}
        )
        + "\n"
    )
    refused = run(cli, ["replay", "import", str(cut), "--database-url", scratch_url])
    assert refused.exit_code != 0
    assert "'staff-x' is at version 0" in refused.output
    assert _log_state(scratch_url) == state


def test_refuses_a_database_that_is_not_a_scratch_one(tmp_path, scratch_url):
    export = tmp_path / "empty.ndjson"
    export.write_text("")
    not_scratch = database_url_for(f"carnet_copy_{uuid.uuid4().hex[:10]}")
    result = CliRunner().invoke(
        cli, ["replay", "import", str(export), "--database-url", not_scratch]
    )
    assert result.exit_code != 0 and "refused" in result.output and "scratch" in result.output
    assert not _exists(not_scratch)

    live = CliRunner(env={"DATABASE_URL": scratch_url}).invoke(
        cli, ["replay", "import", str(export), "--database-url", scratch_url]
    )
    assert live.exit_code != 0 and "$DATABASE_URL" in live.output
    assert not _exists(scratch_url)

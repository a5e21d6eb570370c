"""peer.py's other side: the `eventsourcing` library's PostgreSQL recorder, its table and writers.

eventsourcing is a benchmark-only dependency (`pip install -e '.[bench]'`): this module and
_peer_measure.py, both reached only from peer.py, are the only ones that import it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import sql

from scripts.bench._appends import AppendJob, Runner, Streams
from scripts.bench._payload import EVENT_TYPE, event_metadata, payload

TABLE = "stored_events"
NAMESPACE = uuid.UUID("6d1c4a4e-77a8-4f0e-9b7e-1f3b5c2a9d11")  # stream name -> originator id
RUNNER = "scripts.bench._peer_data:peer_runner"  # imported by _appends' writer processes


def open_datastore(database_url: str, schema: str) -> PostgresDatastore:
    """eventsourcing's datastore on one pooled connection, as a service process would hold it."""
    url = urlsplit(database_url)
    return PostgresDatastore(
        dbname=url.path.lstrip("/"),
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        user=unquote(url.username or "postgres"),
        password=unquote(url.password or ""),
        schema=schema,
        pool_size=1,
    )


def create_peer_table(database_url: str, schema: str) -> None:
    """The recorder's own DDL: composite type, table, notification index, insert function."""
    datastore = open_datastore(database_url, schema)
    try:
        PostgresApplicationRecorder(datastore, events_table_name=TABLE).create_table()
    finally:
        datastore.close()


def recorded_state(data: dict, meta: dict) -> bytes:
    """The same data and metadata Carnet stores, as the JSON bytes a recorder keeps."""
    return json.dumps({"data": data, "metadata": meta}, separators=(",", ":")).encode()


def peer_runner(job: AppendJob) -> Runner:
    """insert_events per transaction (1 event, or a batch), encoding each event in the loop."""
    data, meta = payload(), event_metadata()
    datastore = open_datastore(job.database_url, job.schema)
    recorder = PostgresApplicationRecorder(datastore, events_table_name=TABLE)
    with datastore.get_connection() as conn:  # the pool's only connection
        pid = conn.info.backend_pid

    def prepare(streams: Streams) -> Callable[[], None]:
        ids = [uuid.uuid5(NAMESPACE, stream) for stream, _ in streams]

        def run() -> None:
            for (_, expected), originator in zip(streams, ids, strict=True):
                recorder.insert_events(
                    [
                        StoredEvent(
                            originator, expected + n, EVENT_TYPE, recorded_state(data, meta)
                        )
                        for n in range(1, job.batch + 1)
                    ]
                )

        return run

    return prepare, datastore.close, pid


def fill_peer(database_url: str, schema: str, events: int) -> None:
    """The peer's table filled server-side like _read.fill: one transaction per event."""
    block = sql.SQL(
        "DO $$ BEGIN FOR j IN 0..{last} LOOP"
        " INSERT INTO {s}.{t} (originator_id, originator_version, topic, state)"
        " VALUES (md5('appointment-' || (j / 10))::uuid, j % 10 + 1, {type},"
        " convert_to({state}, 'UTF8')); COMMIT; END LOOP; END $$"
    ).format(
        last=sql.Literal(events - 1),
        s=sql.Identifier(schema),
        t=sql.Identifier(TABLE),
        type=sql.Literal(EVENT_TYPE),
        state=sql.Literal(recorded_state(payload(), event_metadata()).decode()),
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")  # a setup step, not what is measured
        conn.execute(block)
        conn.execute(
            sql.SQL("VACUUM (ANALYZE) {}.{}").format(sql.Identifier(schema), sql.Identifier(TABLE))
        )

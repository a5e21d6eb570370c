"""Who may write the ledger (#20, item 6): only the faithful copy of a stored event, at the tail.

Logged in as carnet_audit, the role the audit service runs as (an insider holding audit's
credentials): a forged row with a valid hash, an edited or invented event, a row off the
chain's tail and a back-dated row are each refused by the database itself; the sequencer's
own path, staged then chained, still works (the positive control).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from services.audit import ledger, sequencer
from services.audit.canonical import CURRENT_SCHEME, entry_hash
from services.common.consumed import PoisonMessage
from services.common.eventstore.store import EventStore
from tests.security.db_privileges import as_role
from tests.support.events import new_event

INSERT = (
    f"INSERT INTO audit.ledger ({ledger.ENTRY_COLUMNS}) VALUES (%(seq)s, %(event_id)s,"
    " %(source_service)s, %(source_position)s, %(stream_id)s, %(stream_version)s,"
    " %(event_type)s, %(schema_version)s, %(payload)s, %(metadata)s, %(occurred_at)s,"
    " %(recorded_at)s, %(hash_scheme)s, %(prev_hash)s, %(entry_hash)s)"
)


@pytest.fixture(scope="module")
def db(migrated_database_url: str) -> str:
    return migrated_database_url


@pytest.fixture
def audit(db: str) -> Iterator[psycopg.Connection]:
    """A connection as the audit service's own role, autocommit as the sequencer runs."""
    with psycopg.connect(as_role(db, "carnet_audit"), autocommit=True) as conn:
        yield conn


def recorded(db: str, source: str = "booking") -> ledger.IncomingEvent:
    """An event booking (or `source`) recorded, as audit's consumer would receive it."""
    e = new_event("SlotsOpened" if source == "booking" else "StaffRegistered")
    stream = f"guard-{uuid.uuid4()}"
    store = EventStore(lambda: psycopg.connect(db), source)
    store.append(stream, [e], expected_version=0)
    stored = store.read_stream(stream)[0]
    return ledger.IncomingEvent(
        event_id=e.event_id,
        source_service=source,
        source_position=stored.position,
        stream_id=stream,
        stream_version=1,
        event_type=e.event_type,
        schema_version=e.schema_version,
        payload=e.data,
        metadata={"correlation_id": e.metadata["correlation_id"]},
        occurred_at=stored.recorded_at,
    )


def ledgered(conn: psycopg.Connection, event: ledger.IncomingEvent) -> int | None:
    row = conn.execute(
        "SELECT seq FROM audit.ledger WHERE event_id = %s", (event.event_id,)
    ).fetchone()
    return row[0] if row else None


def tail(conn: psycopg.Connection) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {ledger.ENTRY_COLUMNS} FROM audit.ledger ORDER BY seq DESC LIMIT 1"
        ).fetchone()


def row_after(last: dict[str, Any], event: ledger.IncomingEvent, **changes: Any) -> dict:
    """A ledger row for `event` right after `last`, hashed as the sequencer hashes it."""
    row = {
        **vars(event),
        "seq": last["seq"] + 1,
        "recorded_at": None,
        "hash_scheme": CURRENT_SCHEME,
        "prev_hash": bytes(last["entry_hash"]),
        **changes,
    }
    row["entry_hash"] = entry_hash(row["prev_hash"], row)
    return {**row, "payload": Jsonb(row["payload"]), "metadata": Jsonb(row["metadata"])}


def insert(conn: psycopg.Connection, row: dict[str, Any]) -> None:
    """One ledger row, dated by the transaction's own clock as the sequencer dates it."""
    with conn.transaction():
        if row["recorded_at"] is None:
            row["recorded_at"] = conn.execute("SELECT clock_timestamp()").fetchone()[0]
            row["entry_hash"] = entry_hash(
                row["prev_hash"],
                {**row, "payload": row["payload"].obj, "metadata": row["metadata"].obj},
            )
        conn.execute(INSERT, row)


def test_the_sequencers_own_path_still_ledgers_a_recorded_event(db, audit):
    event = recorded(db)
    assert sequencer.stage(audit, [event])
    sequencer.sequence(audit)
    assert ledgered(audit, event) is not None


def test_an_event_no_producer_recorded_is_refused_at_staging_as_poison(db, audit):
    event = recorded(db)
    invented = ledger.IncomingEvent(**{**vars(event), "event_id": uuid.uuid4()})
    with pytest.raises(PoisonMessage) as refused:
        sequencer.stage(audit, [invented])
    assert refused.value.reason == "not-recorded-by-producer"
    staged = audit.execute(
        "SELECT count(*) FROM audit.ledger_staging WHERE event_id = %s", (invented.event_id,)
    ).fetchone()[0]
    assert staged == 0


@pytest.mark.parametrize(
    "change",
    [
        {"payload": {"slot_ids": ["forged"]}},
        {"source_service": "identity"},
        {"source_position": 10**9},
        {"stream_version": 2},
        {"metadata": {"correlation_id": "corr-forged"}},
        {"occurred_at": "shift"},
    ],
    ids=["payload", "producer", "position", "stream_version", "correlation", "occurred_at"],
)
def test_an_edited_event_is_refused_at_staging(db, audit, change):
    event = recorded(db)
    if change.get("occurred_at") == "shift":
        change = {"occurred_at": event.occurred_at - timedelta(hours=1)}  # out of a window
    with pytest.raises(PoisonMessage):
        sequencer.stage(audit, [ledger.IncomingEvent(**{**vars(event), **change})])


def test_a_forged_row_with_a_valid_hash_is_refused_at_the_tail(db, audit):
    """The issue's insider: a row with a valid chain hash, straight into audit.ledger."""
    event = recorded(db)
    assert sequencer.stage(audit, [event]) and sequencer.sequence(audit)
    forged = ledger.IncomingEvent(**{**vars(event), "event_id": uuid.uuid4()})
    with pytest.raises(errors.DatabaseError) as refused:
        insert(audit, row_after(tail(audit), forged))
    assert refused.value.sqlstate == "CL001"
    assert ledgered(audit, forged) is None


def test_a_faithful_copy_is_refused_off_the_tail_or_out_of_its_time(db, audit):
    event = recorded(db)
    assert sequencer.stage(audit, [event]) and sequencer.sequence(audit)
    copy = recorded(db)  # recorded, never ledgered: only its place or its time is wrong
    last = tail(audit)
    bad = [
        row_after(last, copy, seq=last["seq"] + 2),
        row_after(last, copy, prev_hash=bytes(32)),
        row_after(last, copy, recorded_at=last["recorded_at"] - timedelta(days=1)),
    ]
    for row in bad:
        with pytest.raises(errors.DatabaseError) as refused:
            insert(audit, row)
        assert refused.value.sqlstate == "CL002", row["seq"]
    insert(audit, row_after(last, copy))  # the control: the same copy, in place and time
    assert ledgered(audit, copy) == last["seq"] + 1


def test_a_staged_row_cannot_be_edited_before_it_is_chained(db, audit):
    with pytest.raises(errors.InsufficientPrivilege):
        audit.execute("UPDATE audit.ledger_staging SET payload = '{}'::jsonb")


def test_a_row_dated_before_its_producer_recorded_it_is_refused(db, audit):
    """A transaction held open since before the event was recorded cannot date it then."""
    assert sequencer.stage(audit, [recorded(db)]) and sequencer.sequence(audit)
    with audit.transaction():
        started = audit.execute("SELECT now()").fetchone()[0]  # the transaction's own time
        event = recorded(db)  # recorded by booking meanwhile, after `started`
        row = row_after(tail(audit), event, recorded_at=started)
        with pytest.raises(errors.DatabaseError) as refused, audit.transaction():
            audit.execute(INSERT, row)
    assert refused.value.sqlstate == "CL002"


def test_a_batch_holding_an_unrecorded_event_stages_nothing_and_fails_whole(db, audit):
    """The consumer then runs the batch's events one by one: only the invented one is poison."""
    good = recorded(db)
    invented = ledger.IncomingEvent(**{**vars(recorded(db)), "event_id": uuid.uuid4()})
    with pytest.raises(errors.DatabaseError) as refused:
        sequencer.stage(audit, [good, invented])
    assert refused.value.sqlstate == sequencer.NOT_RECORDED
    staged = audit.execute(
        "SELECT count(*) FROM audit.ledger_staging WHERE event_id = ANY(%s)",
        ([good.event_id, invented.event_id],),
    ).fetchone()[0]
    assert staged == 0
    assert sequencer.stage(audit, [good]) == {good.event_id}

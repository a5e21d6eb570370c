"""The event store's SQL, built once per schema: every operation is a single statement."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from services.common.eventstore import wakeup

Ordering = Literal["xid", "lock"]

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Column order matches RecordedEvent's fields, so rows map positionally (psycopg args_row).
# xid8 has no psycopg loader; its text form is exactly the 64-bit integer.
RECORDED_COLUMNS = (
    "position, transaction_id::text::int8, stream_id, stream_version, event_id, event_type,"
    " schema_version, data, metadata, recorded_at"
)
# The same with the data as its stored JSON text (RawRecordedEvent), for the relay.
RAW_COLUMNS = RECORDED_COLUMNS.replace(" data,", " data::text,")


@dataclass(frozen=True)
class Statements:
    """SQL for one schema and one ordering strategy."""

    append: str
    append_one: str | None  # one event in its own transaction (None under the writers' lock)
    append_notify: str
    notify: str
    read_stream: str
    read_all: str
    read_all_raw: str
    head: str
    count_after: str


def build(schema: str, ordering: Ordering) -> Statements:
    """Render the statements for `schema`; the name is checked, then inlined as an identifier."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"not a plain schema name: {schema!r}")
    if ordering not in ("xid", "lock"):
        raise ValueError(f"unknown ordering {ordering!r}")
    events = f'"{schema}".events'
    writers_lock = "true" if ordering == "lock" else "false"
    append = (
        f'SELECT a.outcome, a.stream_version, a.positions FROM "{schema}".append_events('
        "%(stream_id)s::text, %(expected_version)s::int4, %(batch)s::jsonb,"
        f" %(event_ids)s::uuid[], {writers_lock}) a"
    )
    append_one = (
        f'SELECT a.position, a.stream_version FROM "{schema}".append_one('
        "%(stream_id)s::text, %(expected_version)s::int4, %(event_id)s::uuid,"
        " %(event_type)s::text, %(schema_version)s::int4, %(data)s::jsonb, %(metadata)s::jsonb) a"
    )
    read_all = (
        f"FROM {events} e WHERE {_after(ordering)}"
        f" {_readable(ordering)} ORDER BY {_order(ordering)} LIMIT %(limit)s"
    )
    return Statements(
        # The checks and the insert live in <schema>.append_events (deploy/migrations/0001):
        # one round trip, and plans that cannot degrade into sequential scans.
        append=append,
        # One event in a transaction of its own: insert at expected_version + 1, the keys
        # catch a clash (deploy/migrations/0034). Under the writers' lock, append_events only.
        append_one=append_one if ordering == "xid" else None,
        # The same, waking a relay that leads in another process once the append commits
        # (NOTIFY is transactional): relay/wakeup.py.
        append_notify=f"{append} CROSS JOIN pg_notify('{wakeup.channel(schema)}', '')",
        notify=f"SELECT pg_notify('{wakeup.channel(schema)}', '')",
        read_stream=(
            f"SELECT {RECORDED_COLUMNS} FROM {events}"
            " WHERE stream_id = %(stream_id)s AND stream_version >= %(from_version)s"
            " AND stream_version <= coalesce(%(to_version)s::int4, 2147483647)"
            " AND recorded_at <= coalesce(%(as_of)s::timestamptz, 'infinity')"
            " ORDER BY stream_version"
        ),
        read_all=f"SELECT {RECORDED_COLUMNS} {read_all}",
        read_all_raw=f"SELECT {RAW_COLUMNS} {read_all}",
        head=(
            f"SELECT transaction_id::text::int8, position FROM {events} e"
            f" WHERE true {_readable(ordering)} ORDER BY {_order(ordering, 'DESC')} LIMIT 1"
        ),
        count_after=f"SELECT count(*) FROM {events} e WHERE {_after(ordering)}",
    )


def _after(ordering: Ordering) -> str:
    if ordering == "lock":
        return "e.position > %(position)s::int8"
    return "(e.transaction_id, e.position) > (%(transaction_id)s::text::xid8, %(position)s::int8)"


def _readable(ordering: Ordering) -> str:
    # Every transaction below the snapshot's xmin has ended, committed or aborted: the set of
    # rows below it can no longer grow, so a reader that stops there never leaves a gap behind.
    # Rows of the reader's own snapshot are exactly the committed ones, so it never reads
    # ahead of a commit either.
    if ordering == "lock":
        return ""
    return "AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())"


def _order(ordering: Ordering, direction: str = "") -> str:
    if ordering == "lock":
        return f"e.position {direction}"
    # Qualified: a bare `transaction_id` would name the int8 output column, defeating the index.
    return f"e.transaction_id {direction}, e.position {direction}"

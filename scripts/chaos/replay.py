"""Read models against their sources: booking's views against a replay of booking's own log.

The replay folds every event of booking's log, in (transaction_id, position) order, with the
one fold the service itself uses (`services.booking.readmodels_fold.fold`, through the rebuild's
`readmodels_projection`: upcast, then a batch at a time) into temporary tables, inside the
snapshot that reads the live tables, and counts differing rows.
Notification's appointment model is compared with booking's view the same way.
"""

from __future__ import annotations

from psycopg import Connection

from services.booking import readmodels
from services.booking.readmodels_projection import PROJECTION
from services.common.projections.event_log import LogEvent

BATCH = 2000  # as `carnet replay rebuild`
SCRATCH = {
    readmodels.SLOTS: "pg_temp.chaos_slots",
    readmodels.APPOINTMENTS: "pg_temp.chaos_appointments",
}

_DIFF = """
SELECT count(*) FROM (
    (SELECT * FROM {live} EXCEPT ALL SELECT * FROM {scratch})
    UNION ALL
    (SELECT * FROM {scratch} EXCEPT ALL SELECT * FROM {live})
) d
"""

# Notification keeps, per appointment, the state of the highest stream version it consumed.
_NOTIFICATION_DIFF = """
SELECT count(*) FROM booking.appointments b
FULL JOIN notification.appointments n USING (appointment_id)
WHERE b.appointment_id IS NULL OR n.appointment_id IS NULL
   OR (b.status, b.start_at, b.version, b.patient_id)
      IS DISTINCT FROM (n.status, n.start_at, n.stream_version, n.patient_id)
"""


def booking_views_vs_replay(conn: Connection) -> dict[str, int]:
    """Rows of booking.slots / booking.appointments that differ from a replay of the log.

    Run inside a REPEATABLE READ transaction: the log and the live tables are then read in
    one snapshot (the service writes both in the same transactions).
    """
    for live, scratch in SCRATCH.items():
        conn.execute(f"CREATE TEMP TABLE {scratch[8:]} (LIKE {live} INCLUDING ALL) ON COMMIT DROP")
    rows = conn.execute(
        "SELECT event_type, schema_version, data, stream_version,"
        " coalesce((metadata ->> 'occurred_at')::timestamptz, recorded_at)"
        " FROM booking.events WHERE event_type = ANY(%s) ORDER BY transaction_id, position",
        (list(readmodels.FOLDED_TYPES),),
    )
    events = [LogEvent(*row) for row in rows.fetchall()]
    for start in range(0, len(events), BATCH):
        PROJECTION.apply(conn, events[start : start + BATCH], SCRATCH)
    return {
        live: int(conn.execute(_DIFF.format(live=live, scratch=scratch)).fetchone()[0])
        for live, scratch in SCRATCH.items()
    }


def notification_vs_booking(conn: Connection) -> int:
    """Appointments whose state in notification differs from booking's view."""
    return int(conn.execute(_NOTIFICATION_DIFF).fetchone()[0])

"""Notification's read models, fed by identity's and booking's events, and what they schedule.

Each function runs inside the inbox transaction of the event that triggers it, so a
redelivered event changes nothing twice (services/common/inbox.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from services.common.consumed import ConsumedEvent
from services.common.tracing import trace_headers

# Deterministic ids: the same trigger always yields the same notification (outbox primary key).
NOTIFICATION_NS = uuid.UUID("6f1c1d53-5a0e-4d0b-9a53-3b1f1e4c0a11")

TEMPLATE_OF = {
    "AppointmentBooked": "appointment_booked",
    "AppointmentRescheduled": "appointment_rescheduled",
    "AppointmentCancelled": "appointment_cancelled",
}


def notification_id(*parts: object) -> uuid.UUID:
    """uuid5 over the trigger's identity: e.g. (event id, template) or (incident, patient)."""
    return uuid.uuid5(NOTIFICATION_NS, ":".join(str(p) for p in parts))


def apply_patient(conn: psycopg.Connection, payload: dict[str, Any]) -> None:
    """Remember how to reach a patient and in which language."""
    conn.execute(
        "INSERT INTO notification.contacts "
        "(patient_id, given_name, family_name, email, phone, language) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (patient_id) DO UPDATE SET "
        "given_name = excluded.given_name, family_name = excluded.family_name, "
        "email = excluded.email, phone = excluded.phone, language = excluded.language, "
        "updated_at = now()",
        (
            payload["patient_id"],
            payload["given_name"],
            payload["family_name"],
            payload.get("email"),
            payload.get("phone"),
            payload["preferred_language"],
        ),
    )


def apply_practitioner(conn: psycopg.Connection, payload: dict[str, Any]) -> None:
    """Remember a practitioner's display name (never the specialty: it can reveal health data)."""
    conn.execute(
        "INSERT INTO notification.practitioners (practitioner_id, display_name) VALUES (%s, %s) "
        "ON CONFLICT (practitioner_id) DO UPDATE SET display_name = excluded.display_name",
        (payload["practitioner_id"], f"{payload['given_name']} {payload['family_name']}".strip()),
    )


def schedule(
    conn: psycopg.Connection,
    nid: uuid.UUID,
    source: ConsumedEvent,
    template: str,
    patient_id: Any,
    context: dict[str, Any],
    due_at: datetime,
    appointment_id: Any = None,
) -> None:
    """Queue one message; a second schedule of the same id is a no-op. Its sends continue the
    triggering event's correlation and trace (`origin`)."""
    origin = {"correlation_id": source.correlation_id, **trace_headers(source.headers)}
    conn.execute(
        "INSERT INTO notification.outbox (notification_id, source_event_id, template, "
        "patient_id, appointment_id, context, due_at, origin) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (notification_id) DO NOTHING",
        (nid, source.event_id, template, patient_id, appointment_id, Jsonb(context), due_at,
         Jsonb(origin)),
    )  # fmt: skip


def apply_appointment_event(
    conn: psycopg.Connection, event: ConsumedEvent, now: datetime, reminder_lead: timedelta
) -> None:
    """Queue the message for this event, then make the reminder match the latest state."""
    p = event.payload
    appointment_id, patient_id = p["appointment_id"], p["patient_id"]
    status = "cancelled" if event.event_type == "AppointmentCancelled" else "booked"
    start = p.get("start")
    context: dict[str, Any] = {"practitioner_id": str(p["practitioner_id"])}
    if start is not None:
        context["start"] = start.isoformat()
    if event.event_type == "AppointmentRescheduled":
        context["previous_start"] = p["previous_start"].isoformat()
    if event.event_type == "AppointmentCancelled":
        row = conn.execute(
            "SELECT start_at FROM notification.appointments WHERE appointment_id = %s",
            (appointment_id,),
        ).fetchone()
        if row:
            context["start"] = row[0].isoformat()
    template = TEMPLATE_OF[event.event_type]
    schedule(
        conn,
        notification_id(event.event_id, template),
        event,
        template,
        patient_id,
        context,
        now,
        appointment_id,
    )
    # Events of one appointment may arrive out of order (separate deliveries, retries):
    # the row keeps the state of the highest stream version seen.
    conn.execute(
        "INSERT INTO notification.appointments (appointment_id, patient_id, practitioner_id, "
        "start_at, status, stream_version) VALUES (%(a)s, %(p)s, %(pr)s, "
        "coalesce(%(start)s::timestamptz, 'epoch'), %(status)s, %(v)s) "
        "ON CONFLICT (appointment_id) DO UPDATE SET status = excluded.status, "
        "start_at = CASE WHEN %(start)s::timestamptz IS NULL "
        "THEN notification.appointments.start_at ELSE excluded.start_at END, "
        "stream_version = excluded.stream_version "
        "WHERE notification.appointments.stream_version < excluded.stream_version",
        {
            "a": appointment_id,
            "p": patient_id,
            "pr": p["practitioner_id"],
            "start": start,
            "status": status,
            "v": event.stream_version,
        },
    )
    sync_reminder(conn, event, appointment_id, now, reminder_lead)


def sync_reminder(
    conn: psycopg.Connection,
    event: ConsumedEvent,
    appointment_id: Any,
    now: datetime,
    reminder_lead: timedelta,
) -> None:
    """One pending reminder for a booked appointment, at its current start; none otherwise."""
    row = conn.execute(
        "SELECT patient_id, practitioner_id, start_at, status FROM notification.appointments "
        "WHERE appointment_id = %s",
        (appointment_id,),
    ).fetchone()
    patient_id, practitioner_id, start_at, status = row
    due_at = start_at - reminder_lead
    nid = notification_id("reminder", appointment_id, start_at.isoformat())
    conn.execute(
        "UPDATE notification.outbox SET state = 'cancelled', updated_at = now() "
        "WHERE appointment_id = %s AND template = 'appointment_reminder' AND state = 'pending' "
        "AND notification_id <> %s",
        (appointment_id, nid),
    )
    # A reminder that would already be due is pointless next to the confirmation just sent.
    if status == "booked" and due_at > now:
        context = {"practitioner_id": str(practitioner_id), "start": start_at.isoformat()}
        schedule(
            conn, nid, event, "appointment_reminder", patient_id, context, due_at, appointment_id
        )
    else:
        conn.execute(
            "UPDATE notification.outbox SET state = 'cancelled', updated_at = now() "
            "WHERE notification_id = %s AND state = 'pending'",
            (nid,),
        )


def apply_breach_request(conn: psycopg.Connection, event: ConsumedEvent, now: datetime) -> None:
    """One Art. 34 notice per (incident, patient), however often audit asks."""
    p = event.payload
    context = {
        "incident_id": str(p["incident_id"]),
        "appointment_ids": [str(a) for a in p["appointment_ids"]],
        "field_classes": sorted(p["field_classes"]),
        "first_access_at": p["first_access_at"].isoformat(),
        "last_access_at": p["last_access_at"].isoformat(),
        "channels": list(p["channels"]),
    }
    nid = notification_id("breach", p["incident_id"], p["patient_id"])
    schedule(conn, nid, event, "breach_notice_art34", p["patient_id"], context, now)


def practitioner_name(conn: Any, practitioner_id: str) -> str:
    """The display name, or an empty string if identity's event has not arrived."""
    row = conn.execute(
        "SELECT display_name FROM notification.practitioners WHERE practitioner_id = %s",
        (practitioner_id,),
    ).fetchone()
    return row[0] if row else ""

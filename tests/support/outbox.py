"""notification's outbox filled directly: one message due now, without the services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb


def queue_one(url: str) -> uuid.UUID:
    """One e-mail due now in notification's outbox, to a contact of its own."""
    patient, nid = uuid.uuid4(), uuid.uuid4()
    start = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO notification.contacts (patient_id, given_name, family_name, email,"
            " language) VALUES (%s, 'Ada', 'Test', 'ada@example.org', 'en')",
            (patient,),
        )
        conn.execute(
            "INSERT INTO notification.outbox (notification_id, source_event_id, template,"
            " patient_id, context, due_at) VALUES (%s, %s, 'appointment_booked', %s, %s, now())",
            (
                nid,
                uuid.uuid4(),
                patient,
                Jsonb({"practitioner_id": str(uuid.uuid4()), "start": start}),
            ),
        )
    return nid

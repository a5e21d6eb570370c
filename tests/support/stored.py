"""What a service stored, read straight from its tables: tests check effects, not logs."""

from __future__ import annotations

from typing import Any

import psycopg


def identity_events(database_url: str, event_type: str | None = None) -> list[dict[str, Any]]:
    """Payloads in identity's store, oldest first, each with its type."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT event_type, data FROM identity.events"
            " WHERE %(t)s::text IS NULL OR event_type = %(t)s ORDER BY position",
            {"t": event_type},
        ).fetchall()
    return [{"type": t, **d} for t, d in rows]


def notification_events(database_url: str, event_type: str) -> list[dict[str, Any]]:
    """Payloads of one type in notification's store, oldest first."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT data FROM notification.events WHERE event_type = %s ORDER BY position",
            (event_type,),
        ).fetchall()
    return [r[0] for r in rows]


def outbox(database_url: str) -> list[tuple[Any, ...]]:
    """(template, state, due_at, attempts) of notification's outbox, oldest first."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT template, state, due_at, attempts FROM notification.outbox ORDER BY created_at"
        ).fetchall()

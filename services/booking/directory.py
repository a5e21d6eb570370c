"""Booking's copy of who patients and practitioners are, kept from identity's events.

Booking never asks identity for a name while serving: the FHIR resources it sends carry the
names and contact details kept here, written by the identity-event consumers (inbox: once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from uuid import UUID

from psycopg import Connection

from services.booking.model import PatientCard, PractitionerCard

T = TypeVar("T")


def apply_patient(conn: Connection, p: Mapping[str, Any]) -> None:
    """PatientRegistered (upcast to the latest version): insert or refresh the card."""
    conn.execute(
        "INSERT INTO booking.patients (patient_id, given_name, family_name, birth_date, gender,"
        " email, phone, preferred_language) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (patient_id) DO UPDATE SET given_name = EXCLUDED.given_name,"
        " family_name = EXCLUDED.family_name, birth_date = EXCLUDED.birth_date,"
        " gender = EXCLUDED.gender, email = EXCLUDED.email, phone = EXCLUDED.phone,"
        " preferred_language = EXCLUDED.preferred_language",
        (
            p["patient_id"],
            p["given_name"],
            p["family_name"],
            p["birth_date"],
            p["gender"],
            p["email"],
            p["phone"],
            p["preferred_language"],
        ),
    )


def apply_practitioner(conn: Connection, p: Mapping[str, Any]) -> None:
    """PractitionerRegistered: insert or refresh the card (the specialty is sensitive)."""
    conn.execute(
        "INSERT INTO booking.practitioners (practitioner_id, given_name, family_name, specialty)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (practitioner_id) DO UPDATE SET"
        " given_name = EXCLUDED.given_name, family_name = EXCLUDED.family_name,"
        " specialty = EXCLUDED.specialty",
        (p["practitioner_id"], p["given_name"], p["family_name"], p["specialty"]),
    )


def _cards(
    conn: Connection, query: str, ids: Iterable[UUID], card: Callable[..., T]
) -> dict[UUID, T]:
    """One card per known id, by one `= ANY` query whose first column is the id."""
    wanted = list({*ids})
    if not wanted:
        return {}
    return {r[0]: card(*r) for r in conn.execute(query, (wanted,)).fetchall()}


def patients(conn: Connection, ids: Iterable[UUID]) -> dict[UUID, PatientCard]:
    """The cards of these patients (those booking has heard of)."""
    return _cards(
        conn,
        "SELECT patient_id, given_name, family_name, birth_date, gender, email, phone,"
        " preferred_language FROM booking.patients WHERE patient_id = ANY(%s)",
        ids,
        PatientCard,
    )


def practitioners(conn: Connection, ids: Iterable[UUID]) -> dict[UUID, PractitionerCard]:
    """The cards of these practitioners."""
    return _cards(
        conn,
        "SELECT practitioner_id, given_name, family_name, specialty FROM booking.practitioners"
        " WHERE practitioner_id = ANY(%s)",
        ids,
        PractitionerCard,
    )


def patient_exists(conn: Connection, patient_id: UUID) -> bool:
    """Booking books only patients identity has registered."""
    row = conn.execute("SELECT 1 FROM booking.patients WHERE patient_id = %s", (patient_id,))
    return row.fetchone() is not None


def practitioner_exists(conn: Connection, practitioner_id: UUID) -> bool:
    """Slots open only on a practitioner identity has registered."""
    row = conn.execute(
        "SELECT 1 FROM booking.practitioners WHERE practitioner_id = %s", (practitioner_id,)
    )
    return row.fetchone() is not None

"""What the load generator believes it did: only acknowledged commands and their expected events.

Reconciliation holds booking's store against this: every acknowledged command must be there,
once. A command whose outcome could not be learnt before the deadline is kept apart, never
guessed.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SlotRef:
    """A slot one worker owns (no other worker books it, so a 409 on it is about our own POST)."""

    practitioner: str
    slot_id: str
    start: str
    end: str


@dataclass
class Appointment:
    """One appointment as the client knows it, with the events its acknowledged commands imply."""

    appointment_id: str
    practitioner: str
    patient: str
    slot: SlotRef
    status: str = "booked"
    version: int = 1
    expected: list[tuple[str, str]] = field(default_factory=list)  # (event type, slot id)


@dataclass
class Tally:
    """Counts shared by every worker (guarded by one lock)."""

    operations: Counter[str] = field(default_factory=Counter)
    acknowledged: int = 0
    retried: int = 0
    resolved_by_reading_back: int = 0
    unresolved: int = 0
    anomalies: list[str] = field(default_factory=list)
    access_ids: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, kind: str, attempts: int, acknowledged: bool) -> None:
        """One operation done: its kind, whether it needed retries, whether it was acknowledged."""
        with self.lock:
            self.operations[kind] += 1
            self.retried += attempts > 1
            self.acknowledged += acknowledged

    def resolved(self) -> None:
        """An ambiguous retry settled by reading the resource back."""
        with self.lock:
            self.resolved_by_reading_back += 1

    def anomaly(self, text: str) -> None:
        """Something a correct system would never answer (ids only, no personal data)."""
        with self.lock:
            self.anomalies.append(text)

    def accessed(self, access_id: str | None) -> None:
        """A served read's access record id (X-Carnet-Access-Id)."""
        if access_id:
            with self.lock:
                self.access_ids.append(access_id)

    def gave_up(self) -> None:
        """No definitive answer before the deadline."""
        with self.lock:
            self.unresolved += 1


@dataclass
class Book:
    """Everything every worker knows at the end."""

    appointments: dict[str, Appointment] = field(default_factory=dict)
    slots: dict[str, SlotRef] = field(default_factory=dict)
    holder: dict[str, str | None] = field(default_factory=dict)  # slot id -> appointment id
    uncertain_appointments: set[str] = field(default_factory=set)
    uncertain_slots: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_slots(self, slots: list[SlotRef]) -> None:
        """The run's slots, all free."""
        with self.lock:
            for s in slots:
                self.slots[s.slot_id] = s
                self.holder[s.slot_id] = None

    def booked(self, appointment: Appointment) -> None:
        """An acknowledged booking."""
        appointment.expected.append(("AppointmentBooked", appointment.slot.slot_id))
        with self.lock:
            self.appointments[appointment.appointment_id] = appointment
            self.holder[appointment.slot.slot_id] = appointment.appointment_id

    def moved(self, appointment: Appointment, new: SlotRef, version: int) -> None:
        """An acknowledged reschedule."""
        appointment.expected.append(("AppointmentRescheduled", new.slot_id))
        with self.lock:
            self.holder[appointment.slot.slot_id] = None
            self.holder[new.slot_id] = appointment.appointment_id
        appointment.slot, appointment.version = new, version

    def cancelled(self, appointment: Appointment, version: int) -> None:
        """An acknowledged cancellation: the slot is free again."""
        appointment.expected.append(("AppointmentCancelled", appointment.slot.slot_id))
        with self.lock:
            self.holder[appointment.slot.slot_id] = None
        appointment.status, appointment.version = "cancelled", version

    def uncertain(self, appointment_id: str | None, *slot_ids: str) -> None:
        """An outcome never learnt: these are left out of the exact comparison."""
        with self.lock:
            if appointment_id:
                self.uncertain_appointments.add(appointment_id)
            self.uncertain_slots.update(slot_ids)

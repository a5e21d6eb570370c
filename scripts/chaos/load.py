"""The load generator: workers book, reschedule, cancel and read through booking's FHIR API.

Each worker owns some practitioners' agendas, so a `409` on a retried command can only be
about its own earlier attempt. Retries are safe without an idempotency key: a booking is
keyed by its slot (a slot's stream accepts one hold, ADR 0008), and every change carries
`test /meta/versionId`, so a command repeated after it committed is refused with `409`; the
worker then reads the appointment back and keeps the command only if it took effect.
"""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote

from scripts.chaos.client import PATCH, Answer, Client, Unresolved
from scripts.chaos.faults import Gate
from scripts.chaos.model import Appointment, Book, SlotRef, Tally

GIVE_UP_AFTER = 3  # unresolved operations before the load stops
MIX = (("book", 35), ("reschedule", 20), ("cancel", 15), ("read", 20), ("search", 10))


class Worker:
    """One connector session working its own agendas until the gate says stop."""

    def __init__(
        self,
        client: Client,
        slots: list[SlotRef],
        patients: list[str],
        book: Book,
        tally: Tally,
        rng: random.Random,
    ) -> None:
        self.client, self.patients, self.book, self.tally, self.rng = (
            client,
            patients,
            book,
            tally,
            rng,
        )
        self.free = list(slots)
        self.practitioners = sorted({s.practitioner for s in slots})
        self.mine: dict[str, Appointment] = {}

    def run(self, gate: Gate) -> None:
        """Take operations from the gate until the fixed count is reached."""
        while gate.take():
            kind = self._choose()
            try:
                getattr(self, f"_{kind}")()
            except Unresolved as exc:
                self.tally.gave_up()
                self.tally.anomaly(f"{kind}: {exc}")
                if self.tally.unresolved >= GIVE_UP_AFTER:
                    gate.stop()  # the system is not coming back: the run has failed already
            finally:
                gate.done()

    def _choose(self) -> str:
        booked = any(a.status == "booked" for a in self.mine.values())
        allowed = {
            "book": bool(self.free),
            "reschedule": booked and bool(self.free),
            "cancel": booked,
            "read": bool(self.mine),
            "search": True,
        }
        kinds = [k for k, _ in MIX if allowed[k]]
        return self.rng.choices(kinds, [w for k, w in MIX if allowed[k]])[0]

    def _served(self, answer: Answer) -> Any:
        self.tally.accessed(answer.response.headers.get("X-Carnet-Access-Id"))
        return answer.json()

    # -- commands -------------------------------------------------------------------------
    def _book(self) -> None:
        slot = self.free.pop(self.rng.randrange(len(self.free)))
        patient = self.rng.choice(self.patients)
        body = {
            "resourceType": "Appointment",
            "status": "proposed",
            "slot": [{"reference": f"Slot/{slot.slot_id}"}],
            "participant": [{"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"}],
        }
        try:
            answer = self.client.send("POST", "/fhir/Appointment", body)
        except Unresolved:
            self.book.uncertain(None, slot.slot_id)
            raise
        found: tuple[str, int] | None = None
        if answer.status == 201:
            resource = self._served(answer)
            found = resource["id"], int(resource["meta"]["versionId"])
        elif answer.status == 409 and answer.attempts > 1:
            found = self._on_slot(slot)  # did an earlier attempt commit?
            if found:
                self.tally.resolved()
        self.tally.count("book", answer.attempts, found is not None)
        if found is None:
            self.tally.anomaly(f"book slot {slot.slot_id}: {answer.status} (no appointment)")
            self.book.uncertain(None, slot.slot_id)
            return
        appointment = Appointment(found[0], slot.practitioner, patient, slot, version=found[1])
        self.book.booked(appointment)
        self.mine[appointment.appointment_id] = appointment

    def _on_slot(self, slot: SlotRef) -> tuple[str, int] | None:
        """The booked appointment holding `slot`, found by searching its practitioner's day."""
        path = (
            f"/fhir/Appointment?practitioner={slot.practitioner}"
            f"&date=ge{quote(slot.start)}&date=lt{quote(slot.end)}&status=booked"
        )
        answer = self.client.send("GET", path)
        if answer.status != 200:
            return None
        for entry in self._served(answer).get("entry", []):
            resource = entry["resource"]
            if resource["slot"][0]["reference"] == f"Slot/{slot.slot_id}":
                return resource["id"], int(resource["meta"]["versionId"])
        return None

    def _pick_booked(self) -> Appointment:
        return self.rng.choice([a for a in self.mine.values() if a.status == "booked"])

    def _change(self, appointment: Appointment, op: dict[str, str]) -> tuple[Answer, Any]:
        """PATCH with the version test; the answer and, on 200, the resource."""
        ops = [{"op": "test", "path": "/meta/versionId", "value": str(appointment.version)}, op]
        path = f"/fhir/Appointment/{appointment.appointment_id}"
        try:
            answer = self.client.send("PATCH", path, ops, PATCH)
        except Unresolved:
            self.book.uncertain(appointment.appointment_id, appointment.slot.slot_id)
            self.mine.pop(appointment.appointment_id, None)
            raise
        if answer.status == 200:
            return answer, self._served(answer)
        if answer.status == 409 and answer.attempts > 1:
            # Our earlier attempt may have committed: read the appointment back.
            back = self.client.send("GET", path)
            if back.status == 200:
                return answer, self._served(back)
        return answer, None

    def _reschedule(self) -> None:
        appointment = self._pick_booked()
        candidates = [s for s in self.free if s.practitioner == appointment.practitioner]
        if not candidates:
            return self._search()
        new = self.rng.choice(candidates)
        self.free.remove(new)
        op = {"op": "replace", "path": "/slot/0/reference", "value": f"Slot/{new.slot_id}"}
        answer, resource = self._change(appointment, op)
        applied = resource is not None and resource["slot"][0]["reference"] == f"Slot/{new.slot_id}"
        self.tally.count("reschedule", answer.attempts, applied)
        if not applied:
            self.book.uncertain(None, new.slot_id)
            return self._unexpected("reschedule", appointment, answer)
        if answer.status != 200:
            self.tally.resolved()
        old = appointment.slot
        self.book.moved(appointment, new, int(resource["meta"]["versionId"]))
        self.free.append(old)

    def _cancel(self) -> None:
        appointment = self._pick_booked()
        op = {"op": "replace", "path": "/status", "value": "cancelled"}
        answer, resource = self._change(appointment, op)
        applied = resource is not None and resource["status"] == "cancelled"
        self.tally.count("cancel", answer.attempts, applied)
        if not applied:
            return self._unexpected("cancel", appointment, answer)
        if answer.status != 200:
            self.tally.resolved()
        self.book.cancelled(appointment, int(resource["meta"]["versionId"]))
        self.free.append(appointment.slot)

    def _unexpected(self, kind: str, appointment: Appointment, answer: Answer) -> None:
        self.tally.anomaly(f"{kind} {appointment.appointment_id}: {answer.status}")
        self.book.uncertain(appointment.appointment_id, appointment.slot.slot_id)
        self.mine.pop(appointment.appointment_id, None)

    # -- reads ----------------------------------------------------------------------------
    def _read(self) -> None:
        appointment = self.rng.choice(list(self.mine.values()))
        answer = self.client.send("GET", f"/fhir/Appointment/{appointment.appointment_id}")
        self.tally.count("read", answer.attempts, answer.status == 200)
        if answer.status != 200:
            return self.tally.anomaly(f"read {appointment.appointment_id}: {answer.status}")
        resource = self._served(answer)
        seen = (
            resource["status"],
            resource["slot"][0]["reference"],
            int(resource["meta"]["versionId"]),
        )
        wanted = (appointment.status, f"Slot/{appointment.slot.slot_id}", appointment.version)
        if seen != wanted:
            self.tally.anomaly(f"read {appointment.appointment_id}: stale {seen} != {wanted}")

    def _search(self) -> None:
        practitioner = self.rng.choice(self.practitioners)
        answer = self.client.send("GET", f"/fhir/Appointment?practitioner={practitioner}&_count=50")
        self.tally.count("search", answer.attempts, answer.status == 200)
        if answer.status != 200:
            return self.tally.anomaly(f"search {practitioner}: {answer.status}")
        self._served(answer)

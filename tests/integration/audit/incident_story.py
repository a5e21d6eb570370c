"""A ledger for incident tests: two scraper connectors of one vendor on one address, an honest
connector, a linked one, a refused token, a patient account probing others, and identity's and
audit's findings and measures about them — every figure a test asserts is written down here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tests.contract.examples import EXAMPLES, SUSPICIOUS_ACCESS_DETECTED_V2
from tests.support.appointment_story import PRACTITIONER, read
from tests.support.ledger import T0, Ledger

ADDRESS, HONEST_ADDRESS, HOME = "203.0.113.50", "198.51.100.9", "192.0.2.77"
SCRAPER_UA, HONEST_UA, BROWSER = "ScrapeKit/1.0", "HonestSync/2.0", "Mozilla/5.0 (test)"
FINGERPRINT = "00112233445566aa"
VENDOR = "Acme Sync"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def new() -> str:
    return str(uuid.uuid4())


@dataclass
class Story:
    """Ids of everyone and everything the story names."""

    c1: str = field(default_factory=new)  # scraper, vendor Acme Sync
    c2: str = field(default_factory=new)  # second scraper, same vendor, address and software
    c3: str = field(default_factory=new)  # honest, elsewhere
    c4: str = field(default_factory=new)  # another vendor, seen once from the scrapers' address
    patient: str = field(default_factory=new)  # an account that probes other patients
    appointments: list[str] = field(default_factory=lambda: [new() for _ in range(7)])
    patients: list[str] = field(default_factory=lambda: [new() for _ in range(7)])
    own: str = field(default_factory=new)  # the probing patient's own appointment

    def pair(self, i: int) -> tuple[uuid.UUID, str]:
        return uuid.UUID(self.appointments[i]), self.patients[i]


def _refused(principal: str | None, kind: str, code: str, targets: list[dict[str, str]],
             **over: Any) -> dict[str, Any]:  # fmt: skip
    return read(
        principal, over.pop("connector", None), [], principal_kind=kind, outcome="denied",
        denial_reason=f"refused: {code}", denial_code=code, targets=targets, field_classes=[],
        operation="read", **over,
    )  # fmt: skip


def _target(s: Story, i: int) -> dict[str, str]:
    return {"appointment_id": s.appointments[i], "patient_id": s.patients[i],
            "practitioner_id": PRACTITIONER}  # fmt: skip


def _finding(principal: str, kind: str, rule: str, linked: list[str], **over: Any) -> dict:
    v3 = EXAMPLES["SuspiciousAccessDetected"]
    return {**v3, "detection_id": new(), "rule": rule, "principal_id": principal,
            "principal_kind": kind, "connector_id": principal if kind == "connector" else None,
            "linked_principal_ids": linked, **over}  # fmt: skip


def _registrations(book: Ledger, s: Story) -> None:
    for connector, vendor in ((s.c1, VENDOR), (s.c2, "ACME SYNC"), (s.c3, "Other"),
                              (s.c4, "Other")):  # fmt: skip
        payload = {**EXAMPLES["ConnectorRegistered"], "connector_id": connector,
                   "vendor": vendor, "name": f"Agenda {connector[:4]}"}  # fmt: skip
        book.put("ConnectorRegistered", payload, source="identity", at=at(-60))
    payload = {**EXAMPLES["PatientRegistered"], "patient_id": s.patient}
    book.put("PatientRegistered", payload, source="identity", at=at(-60))


def _accesses(book: Ledger, s: Story) -> None:
    scraper = {"network_address": ADDRESS, "user_agent": SCRAPER_UA}
    book.put("AppointmentsAccessed", read(s.c1, s.c1, [s.pair(6)], **scraper), at=at(-10))
    book.put("AppointmentsAccessed", read(s.c1, s.c1, [s.pair(i) for i in (0, 1, 2)], **scraper),
             at=at(1))  # fmt: skip
    book.put("AppointmentsAccessed", read(s.c1, s.c1, [s.pair(i) for i in (2, 3)], **scraper),
             at=at(2))  # fmt: skip
    book.put("AppointmentsAccessed", read(s.c2, s.c2, [s.pair(i) for i in (3, 4)], **scraper),
             at=at(3))  # fmt: skip
    book.put("AppointmentsAccessed",
             _refused(s.c2, "connector", "reach", [_target(s, 5)], connector=s.c2, **scraper),
             at=at(4))  # fmt: skip
    honest = {"network_address": HONEST_ADDRESS, "user_agent": HONEST_UA}
    book.put("AppointmentsAccessed", read(s.c3, s.c3, [s.pair(0)], **honest), at=at(5))
    book.put("AppointmentsAccessed",
             _refused(None, "unknown", "unauthenticated", [], token_fingerprint=FINGERPRINT,
                      network_address=ADDRESS, user_agent="curl/8.0"), at=at(6))  # fmt: skip
    book.put("AppointmentsAccessed", read(s.c4, s.c4, [s.pair(1)], network_address=ADDRESS,
                                          user_agent=HONEST_UA), at=at(7))  # fmt: skip
    book.put("AppointmentsAccessed", read(s.c4, s.c4, [s.pair(0)], **honest), at=at(7.5))
    home = {"network_address": HOME, "user_agent": BROWSER}
    mine = read(s.patient, None, [(uuid.UUID(s.own), s.patient)], principal_kind="patient",
                operation="read", field_classes=["administrative", "medical"],
                medical_decrypted=True, **home)  # fmt: skip
    book.put("AppointmentsAccessed", mine, at=at(8))
    for minute, code, targets in ((9, "reach", [_target(s, 0)]), (10, "not_found", []),
                                  (11, "quota", [])):  # fmt: skip
        book.put("AppointmentsAccessed", _refused(s.patient, "patient", code, targets, **home),
                 at=at(minute))  # fmt: skip


def _containment(book: Ledger, s: Story) -> None:
    v2 = {**SUSPICIOUS_ACCESS_DETECTED_V2, "detection_id": new(), "principal_id": s.c1,
          "connector_id": s.c1}  # fmt: skip
    book.put("SuspiciousAccessDetected", v2, version=2, source="audit", at=at(3.5))
    book.put("SuspiciousAccessDetected", _finding(s.c2, "connector", "D8_linked", [s.c1]),
             source="audit", at=at(4.2))  # fmt: skip
    quota = {**EXAMPLES["QuotaSet"], "principal_id": s.c2}
    book.put("QuotaSet", quota, source="identity", at=at(4.5))
    book.put("QuotaSet", {**quota, "principal_id": s.c1, "reason": "operator"},
             source="identity", at=at(4.6))  # fmt: skip
    suspended = {**EXAMPLES["ConnectorSuspended"], "connector_id": s.c1}
    book.put("ConnectorSuspended", suspended, source="identity", at=at(4.4))
    book.put("SuspiciousAccessDetected",
             _finding(s.c3, "connector", "D5_new_address", [s.c2], network_address=ADDRESS),
             source="audit", at=at(5.5))  # fmt: skip
    book.put("PrincipalTrusted", EXAMPLES["PrincipalTrusted"] | {"principal_id": s.c3},
             source="identity", at=at(5.6))  # fmt: skip
    book.put("SuspiciousAccessDetected",
             _finding(s.patient, "patient", "D4_probing", [], network_address=HOME),
             source="audit", at=at(10.5))  # fmt: skip
    for event in ("AccountSuspended", "CredentialsReset"):
        book.put(event, {**EXAMPLES[event], "principal_id": s.patient}, source="identity",
                 at=at(11.5))  # fmt: skip


def build(book: Ledger) -> Story:
    """The whole story, in the ledger."""
    s = Story()
    _registrations(book, s)
    _accesses(book, s)
    _containment(book, s)
    return s

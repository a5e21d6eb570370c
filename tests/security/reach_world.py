"""The reach matrix's world: three practitioners, two patients, one principal of every kind.

Built once per test module on the booking test world (identity and booking on the real
database and bus, tests/integration/booking/world.py). Every request sends an X-Request-ID of
its own, so the access record it caused (or did not cause) is found by that id.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import requests

from contracts.registry import REGISTRY
from services.identity.settings import BOOTSTRAP_ADMIN_ID
from tests.integration.booking.world import World
from tests.security.reach_rules import PRACTITIONERS, A, B
from tests.support.people import SCOPES
from tests.support.poll import eventually
from tests.support.stack import ADMIN_TOKEN

READ, WRITE, MEDICAL = SCOPES
FHIR = "application/fhir+json"
SEEDED_DAYS_AHEAD = 2  # the seeded appointments; searches are bounded to that day
POOL_DAYS_AHEAD = 6  # free slots taken by writes
OPENED_DAYS_AHEAD = 40  # slots opened by the open_slots cells, one hour apart
MEDICAL_REASON = "synthetic reason for visit"
MEDICAL_ELEMENTS = ("reasonCode", "comment", "supportingInformation")


@dataclass
class Caller:
    """One principal of the matrix: its bearer token and the id booking records for it."""

    label: str
    token: str
    principal_id: str
    connector_id: str | None = None


@dataclass
class ReachWorld:
    """The practitioners and patients by label, the seeded appointments and the callers."""

    world: World
    practitioners: dict[str, str] = field(default_factory=dict)
    patients: dict[str, str] = field(default_factory=dict)
    seeded: dict[tuple[str, str], str] = field(default_factory=dict)  # (P, patient) -> id
    pools: dict[str, list[str]] = field(default_factory=dict)
    pool_ids: dict[str, frozenset[str]] = field(default_factory=dict)
    callers: dict[str, Caller] = field(default_factory=dict)
    seed_day: datetime = field(default_factory=lambda: datetime.now(UTC))
    _hours: itertools.count = field(default_factory=itertools.count)

    # -- building ---------------------------------------------------------------------------
    def build(self) -> ReachWorld:
        """Register everyone, seed one appointment per (practitioner, patient), open pools."""
        w = self.world
        for label, specialty in zip(
            PRACTITIONERS, ("dermatology", "cardiology", "psychiatry"), strict=True
        ):
            self.practitioners[label] = w.practitioner(specialty)
        self.patients = {A: w.patient(), B: w.patient()}
        self.seed_day = (datetime.now(UTC) + timedelta(days=SEEDED_DAYS_AHEAD)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        for label, pid in self.practitioners.items():
            seeded = w.open_slots(pid, count=2, days_ahead=SEEDED_DAYS_AHEAD)
            for slot, patient in zip(seeded, (A, B), strict=True):
                self.seeded[(label, patient)] = self.book_as_admin(slot, patient)
            self.pools[label] = w.open_slots(pid, count=90, days_ahead=POOL_DAYS_AHEAD)
            self.pool_ids[label] = frozenset(self.pools[label])
        self._callers()
        return self

    def _callers(self) -> None:
        w, p1, p2, p3 = self.world, *(self.practitioners[x] for x in PRACTITIONERS)
        add = self._add
        add("patient_a", w.person_token(self.patients[A]), self.patients[A])
        add("practitioner_1", w.person_token(p1), p1)
        add("practitioner_1_read_token", w.person_token(p1, scope=READ), p1)
        for label, role in (("staff_admin", "admin"), ("staff_investigator", "investigator")):
            staff_id = w.people.staff(role)
            add(label, w.person_token(staff_id), staff_id)
        add("bootstrap_admin", ADMIN_TOKEN, str(BOOTSTRAP_ADMIN_ID))
        self._connector("connector_read_p1", {p1: [READ]})
        self._connector("connector_medical_p1_read_p2", {p1: [READ, MEDICAL], p2: [READ]})
        self._connector("connector_write_only_p2", {p2: [WRITE]})
        self._connector("connector_full_p1_rw_p3", {p1: SCOPES, p3: [READ, WRITE]})
        self._connector("connector_no_grant", {})
        self._connector("connector_read_token_p1_p2", {p1: SCOPES, p2: SCOPES}, scope=READ)

    def _add(self, label: str, token: str, principal_id: str) -> None:
        self.callers[label] = Caller(label, token, principal_id)

    def _connector(
        self, label: str, grants: dict[str, list[str]], scope: str | None = None
    ) -> None:
        c = self.world.connector(grants)
        token = c["token"] if scope is None else connector_token(self.world, c, scope)
        cid = c["connector_id"]
        self.callers[label] = Caller(label, token, cid, cid)

    # -- state the cells need ---------------------------------------------------------------
    def book_as_admin(self, slot_id: str, patient: str) -> str:
        """An appointment of `patient` (label) in `slot_id`, with a medical reason."""
        r = self.world.book(ADMIN_TOKEN, slot_id, self.patients[patient], MEDICAL_REASON)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def take_slot(self, practitioner: str) -> str:
        """A free slot of this practitioner that no other cell will use."""
        return self.pools[practitioner].pop()

    def fresh_appointment(self, practitioner: str) -> str:
        """A new appointment of patient A with this practitioner, for one write cell."""
        return self.book_as_admin(self.take_slot(practitioner), A)

    def slot_interval(self) -> dict[str, str]:
        """A 20-minute interval no other open_slots cell uses."""
        start = (datetime.now(UTC) + timedelta(days=OPENED_DAYS_AHEAD)).replace(
            hour=0, minute=0, second=0, microsecond=0
        ) + timedelta(hours=next(self._hours))
        end = start + timedelta(minutes=20)
        return {"start": start.isoformat(), "end": end.isoformat()}

    def new_patient(self) -> str:
        """A patient of one shred cell only (no password, so no hashing to wait for)."""
        n = uuid.uuid4().hex[:8]
        body = {
            "given_name": "Shred",
            "family_name": f"Patient-{n}",
            "birth_date": "1985-05-05",
            "gender": "male",
            "email": f"shred-{n}@example.org",
        }
        pid = self.world.admin_post("/v1/patients", body)["patient_id"]
        eventually(lambda: self.world._in_directory("patients", pid), what="patient in booking")
        return pid

    # -- observing --------------------------------------------------------------------------
    def call(
        self, caller: Caller, method: str, path: str, **kw: Any
    ) -> tuple[requests.Response, str]:
        """One request under its own request id; the response and that id."""
        request_id = f"reach-{uuid.uuid4()}"
        headers = {"X-Request-ID": request_id, **kw.pop("headers", {})}
        return self.world.request(method, path, caller.token, headers=headers, **kw), request_id

    def records_of(self, request_id: str) -> list[dict[str, Any]]:
        """The access records this request caused, each checked against its contract."""
        with psycopg.connect(self.world.database_url) as conn:
            rows = conn.execute(
                "SELECT schema_version, data FROM booking.events"
                " WHERE event_type = 'AppointmentsAccessed' AND data->>'request_id' = %s",
                (request_id,),
            ).fetchall()
        for version, data in rows:
            REGISTRY.validate_for_publish("AppointmentsAccessed", data, version)
        return [data for _, data in rows]

    def appointment_state(self, appointment_id: str) -> tuple[str, str]:
        """(status, slot id) of an appointment in booking's read model."""
        with psycopg.connect(self.world.database_url) as conn:
            row = conn.execute(
                "SELECT status, slot_id::text FROM booking.appointments WHERE appointment_id = %s",
                (appointment_id,),
            ).fetchone()
        assert row is not None, appointment_id
        return row[0], row[1]

    def slot_holder(self, slot_id: str) -> str | None:
        """The appointment holding a slot, None when it is free."""
        with psycopg.connect(self.world.database_url) as conn:
            row = conn.execute(
                "SELECT appointment_id::text FROM booking.slots WHERE slot_id = %s", (slot_id,)
            ).fetchone()
        assert row is not None, slot_id
        return row[0]

    def label_of_practitioner(self, practitioner_id: str) -> str:
        """P1, P2 or P3."""
        return next(k for k, v in self.practitioners.items() if v == practitioner_id)

    def label_of_patient(self, patient_id: str) -> str:
        """A or B (or '?' for a patient created by a write cell)."""
        return next((k for k, v in self.patients.items() if v == patient_id), "?")


def connector_token(world: World, connector: dict[str, Any], scope: str) -> str:
    """A client-credentials token asking for `scope` only (space-separated scopes)."""
    return world.people.client_token(connector["client_id"], connector["client_secret"], scope)


def bundle_resources(response: requests.Response) -> list[dict[str, Any]]:
    """The resources of a searchset Bundle."""
    return [e["resource"] for e in response.json().get("entry", [])]


def medical_elements(resource: dict[str, Any]) -> list[str]:
    """The medical elements an Appointment carries."""
    return [name for name in MEDICAL_ELEMENTS if name in resource]


def patient_of(resource: dict[str, Any]) -> str:
    """The patient id of a served Appointment (its contained Patient's identifier)."""
    return resource["contained"][0]["identifier"][0]["value"]


def practitioner_of(resource: dict[str, Any]) -> str:
    """The practitioner id of a served Appointment (its Practitioner participant)."""
    refs = [p["actor"].get("reference", "") for p in resource["participant"]]
    return next(r.removeprefix("Practitioner/") for r in refs if r.startswith("Practitioner/"))

"""The documented reach rules (docs/booking.md "Reach"), written out as a table of expectations.

This is the oracle of the reach matrix: each principal of the matrix world is stated by hand
as the practitioners (P1, P2, P3) whose appointments it may read, read with medical fields,
write, whose free slots it may see and whose agenda it may open slots on. Nothing here is read
from services/booking/reach.py: the test compares the service against what the docs promise.
"""

from __future__ import annotations

from dataclasses import dataclass

P1, P2, P3 = "P1", "P2", "P3"
PRACTITIONERS = (P1, P2, P3)
ALL = frozenset(PRACTITIONERS)
NONE: frozenset[str] = frozenset()
A, B = "A", "B"  # the two patients with an appointment on every agenda

# Endpoints asked once per practitioner X of the world.
PER_PRACTITIONER = (
    "read_a",  # GET /fhir/Appointment/{id}: patient A's appointment with X
    "read_b",  # the same for patient B
    "search",  # GET /fhir/Appointment?practitioner=X (the seeded day)
    "search_b",  # ... &patient=B
    "slots",  # GET /fhir/Slot?practitioner=X
    "book_a",  # POST /fhir/Appointment: a free slot of X for patient A (with a reason)
    "book_b",  # the same for patient B
    "cancel",  # PATCH status cancelled on a fresh appointment of A with X
    "arrive",  # PATCH status arrived on one
    "move",  # PATCH /slot/0/reference to another free slot of X
    "open_slots",  # POST /v1/practitioners/X/slots
)
# Asked once per principal: "search_all" (GET /fhir/Appointment with no practitioner, the
# seeded day) and "shred" (DELETE /v1/patients/{id}/medical-key, a patient of its own).


@dataclass(frozen=True)
class Grants:
    """What the docs let one principal do, per practitioner label."""

    read: frozenset[str] = NONE
    medical: frozenset[str] = NONE
    write: frozenset[str] = NONE
    slots: frozenset[str] = NONE
    open_slots: frozenset[str] = NONE
    shred: bool = False
    patient: str | None = None  # a patient: their own appointments, on every agenda


def on(*practitioners: str) -> frozenset[str]:
    """A set of practitioner labels, as the table below writes them."""
    return frozenset(practitioners)


# docs/booking.md, "Reach": the row of each principal kind, applied to this world's grants.
EXPECTED: dict[str, Grants] = {
    # Patient: their own appointments, medical included; book, cancel (and move) their own;
    # free slots of every agenda (they need them to book); never open slots nor shred.
    "patient_a": Grants(slots=ALL, patient=A),
    # Practitioner (token with every scope): their own agenda, medical included.
    "practitioner_1": Grants(
        read=on(P1), medical=on(P1), write=on(P1), slots=on(P1), open_slots=on(P1)
    ),
    # Practitioner whose token asked for appointment:read only: reads, but writes nothing.
    "practitioner_1_read_token": Grants(read=on(P1), slots=on(P1)),
    # Staff admin: administrative and sensitive of everything, never medical; every write.
    "staff_admin": Grants(read=ALL, write=ALL, slots=ALL, open_slots=ALL, shred=True),
    "bootstrap_admin": Grants(read=ALL, write=ALL, slots=ALL, open_slots=ALL, shred=True),
    # Staff investigator: nothing here (investigations go through audit).
    "staff_investigator": Grants(),
    # Connectors: exactly what each practitioner granted, intersected with the token's scopes.
    "connector_read_p1": Grants(read=on(P1), slots=on(P1)),
    "connector_medical_p1_read_p2": Grants(read=on(P1, P2), medical=on(P1), slots=on(P1, P2)),
    "connector_write_only_p2": Grants(write=on(P2), slots=on(P2), open_slots=on(P2)),
    "connector_full_p1_rw_p3": Grants(
        read=on(P1, P3), medical=on(P1), write=on(P1, P3), slots=on(P1, P3), open_slots=on(P1, P3)
    ),
    "connector_no_grant": Grants(),
    # Granted everything on P1 and P2, but its token asked for appointment:read only.
    "connector_read_token_p1_p2": Grants(read=on(P1, P2), slots=on(P1, P2)),
}


@dataclass(frozen=True)
class Outcome:
    """What one request must get: allowed or 403; what comes back when allowed."""

    allowed: bool
    body: bool = False  # the response carries appointment data
    medical: bool = False  # ... with medical elements
    visible: frozenset[str] = NONE  # searches: the patients (A, B) whose appointments come back


DENIED = Outcome(False)


def _reads(g: Grants, x: str, patient: str) -> bool:
    return g.patient == patient if g.patient else x in g.read


def _medical(g: Grants, x: str, patient: str) -> bool:
    return g.patient == patient if g.patient else x in g.medical


def _writes(g: Grants, x: str, patient: str) -> bool:
    return g.patient == patient if g.patient else x in g.write


def _written(g: Grants, x: str, patient: str) -> Outcome:
    """A write that is allowed answers with the appointment only to a caller who may read it."""
    if not _writes(g, x, patient):
        return DENIED
    shown = _reads(g, x, patient)
    return Outcome(True, body=shown, medical=shown and _medical(g, x, patient))


def expect(label: str, endpoint: str, x: str | None = None) -> Outcome:
    """The documented outcome of `endpoint` (on practitioner `x`) for principal `label`."""
    g = EXPECTED[label]
    if endpoint in ("read_a", "read_b"):
        patient = A if endpoint == "read_a" else B
        if not (x is not None and _reads(g, x, patient)):
            return DENIED
        return Outcome(True, True, _medical(g, x, patient), frozenset({patient}))
    if endpoint in ("search", "search_b"):
        wanted = frozenset({A, B}) if endpoint == "search" else frozenset({B})
        if g.patient:  # a patient's search covers their own appointments, and only those
            if endpoint == "search_b" and g.patient != B:
                return DENIED
            return Outcome(True, True, True, wanted & {g.patient})
        if x not in g.read:
            return DENIED
        return Outcome(True, True, x in g.medical, wanted)
    if endpoint == "search_all":
        return Outcome(True, True)  # visible per practitioner: see visible_in_search_all
    if endpoint == "slots":
        return Outcome(x in g.slots)
    if endpoint in ("book_a", "book_b"):
        assert x is not None
        return _written(g, x, A if endpoint == "book_a" else B)
    if endpoint in ("cancel", "move"):
        assert x is not None
        return _written(g, x, A)
    if endpoint == "arrive":  # a patient may book, cancel and move, never mark attendance
        assert x is not None
        return DENIED if g.patient else _written(g, x, A)
    if endpoint == "open_slots":
        return Outcome(x in g.open_slots)
    if endpoint == "shred":
        return Outcome(g.shred)
    raise KeyError(endpoint)


def visible_in_search_all(label: str) -> set[tuple[str, str]]:
    """(practitioner, patient) pairs an unfiltered search returns; medical per practitioner."""
    g = EXPECTED[label]
    return {(x, p) for x in PRACTITIONERS for p in (A, B) if _reads(g, x, p)}


def medical_in_search_all(label: str, x: str, patient: str) -> bool:
    """Whether the appointment of `patient` with `x` comes back with its medical fields."""
    return _medical(EXPECTED[label], x, patient)

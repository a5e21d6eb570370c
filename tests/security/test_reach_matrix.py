"""Reach (BOLA) matrix: every principal kind x every practitioner x every booking endpoint.

The expectation of each cell comes from tests/security/reach_rules.py (the documented rules,
written by hand); the answer from the real booking service with identity beside it. Allowed
cells get exactly the documented data (medical elements only where the medical scope reaches);
denied cells get 403, change nothing, and leave one AppointmentsAccessed record with outcome
denied naming the principal, in booking's own event store.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.booking.world import World
from tests.security.reach_checks import (
    assert_denied,
    assert_served,
    book,
    check_appointment_answer,
    patch,
)
from tests.security.reach_rules import (
    EXPECTED,
    PER_PRACTITIONER,
    PRACTITIONERS,
    A,
    B,
    Outcome,
    expect,
    medical_in_search_all,
    visible_in_search_all,
)
from tests.security.reach_world import (
    POOL_DAYS_AHEAD,
    Caller,
    ReachWorld,
    bundle_resources,
    patient_of,
    practitioner_of,
)

CELLS = [(label, ep, x) for label in EXPECTED for ep in PER_PRACTITIONER for x in PRACTITIONERS]


@pytest.fixture(scope="module")
def reach_world(migrated_database_url: str, module_broker: str) -> Iterator[ReachWorld]:
    """One world for the whole matrix (principals are costly: argon2 at every sign-in)."""
    world = World(migrated_database_url, module_broker).start()
    try:
        yield ReachWorld(world).build()
    finally:
        world.close()


def _day(days_ahead: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days_ahead)).date().isoformat()


def _seeded_window(rw: ReachWorld) -> str:
    nxt = rw.seed_day + timedelta(days=1)
    return f"date=ge{rw.seed_day.date().isoformat()}&date=lt{nxt.date().isoformat()}"


def _read(rw: ReachWorld, caller: Caller, want: Outcome, endpoint: str, x: str) -> None:
    """GET /fhir/Appointment/{id} of patient A's or B's appointment with x."""
    appointment_id = rw.seeded[(x, A if endpoint == "read_a" else B)]
    r, rid = rw.call(caller, "GET", f"/fhir/Appointment/{appointment_id}")
    if not want.allowed:
        return assert_denied(rw, caller, r, rid, rw.practitioners[x])
    assert r.status_code == 200, r.text
    assert_served(rw, r, rid, [r.json()], {appointment_id: want.medical})
    return None


def _search(rw: ReachWorld, caller: Caller, want: Outcome, endpoint: str, x: str) -> None:
    """GET /fhir/Appointment?practitioner=x (and patient=B) over the seeded day."""
    query = f"practitioner={rw.practitioners[x]}&{_seeded_window(rw)}&_count=100"
    if endpoint == "search_b":
        query += f"&patient={rw.patients[B]}"
    r, rid = rw.call(caller, "GET", f"/fhir/Appointment?{query}")
    if not want.allowed:
        return assert_denied(rw, caller, r, rid, rw.practitioners[x])
    assert r.status_code == 200, r.text
    served = bundle_resources(r)
    got = {
        (rw.label_of_practitioner(practitioner_of(s)), rw.label_of_patient(patient_of(s)))
        for s in served
    }
    assert got == {(x, p) for p in want.visible}
    assert_served(rw, r, rid, served, {s["id"]: want.medical for s in served})
    return None


def _slots(rw: ReachWorld, caller: Caller, want: Outcome, endpoint: str, x: str) -> None:
    """GET /fhir/Slot?practitioner=x over the pool's days."""
    window = f"start=ge{_day(POOL_DAYS_AHEAD - 1)}&start=lt{_day(POOL_DAYS_AHEAD + 3)}"
    x_id = rw.practitioners[x]
    r, rid = rw.call(caller, "GET", f"/fhir/Slot?practitioner={x_id}&{window}&_count=100")
    if not want.allowed:
        return assert_denied(rw, caller, r, rid, x_id)
    assert r.status_code == 200, r.text
    slots = {s["id"] for s in bundle_resources(r)}
    assert slots and slots <= rw.pool_ids[x]
    return None


def _book_cell(rw: ReachWorld, caller: Caller, want: Outcome, endpoint: str, x: str) -> None:
    """POST /fhir/Appointment: a free slot of x for patient A or B."""
    slot_id = rw.take_slot(x)
    r, rid = book(rw, caller, slot_id, A if endpoint == "book_a" else B)
    if not want.allowed:
        assert_denied(rw, caller, r, rid, rw.practitioners[x])
        assert rw.slot_holder(slot_id) is None
        return
    assert r.status_code == 201, r.text
    appointment_id = r.headers["Location"].rsplit("/", 1)[-1]
    assert rw.slot_holder(slot_id) == appointment_id
    check_appointment_answer(rw, r, rid, want, appointment_id)


def _change(rw: ReachWorld, caller: Caller, want: Outcome, endpoint: str, x: str) -> None:
    """PATCH a fresh appointment of A with x: cancel, mark arrived, or move to another slot."""
    appointment_id = rw.fresh_appointment(x)
    before = rw.appointment_state(appointment_id)
    if endpoint == "move":
        target = rw.take_slot(x)
        ops = [{"op": "replace", "path": "/slot/0/reference", "value": f"Slot/{target}"}]
        after = ("booked", target)
    else:
        status = "cancelled" if endpoint == "cancel" else "arrived"
        ops = [{"op": "replace", "path": "/status", "value": status}]
        after = (status, before[1])
    r, rid = patch(rw, caller, appointment_id, ops)
    if not want.allowed:
        assert_denied(rw, caller, r, rid, rw.practitioners[x])
        assert rw.appointment_state(appointment_id) == before
        return
    assert r.status_code == 200, r.text
    assert rw.appointment_state(appointment_id) == after
    check_appointment_answer(rw, r, rid, want, appointment_id)


def _open_slots(rw: ReachWorld, caller: Caller, want: Outcome, endpoint: str, x: str) -> None:
    """POST /v1/practitioners/x/slots: one slot at a time no other cell uses."""
    body = {"service_type": "consultation", "slots": [rw.slot_interval()]}
    x_id = rw.practitioners[x]
    r, rid = rw.call(caller, "POST", f"/v1/practitioners/{x_id}/slots", json=body)
    if not want.allowed:
        return assert_denied(rw, caller, r, rid, x_id)
    assert r.status_code == 201, r.text
    assert len(r.json()["slots"]) == 1
    return None


CELL_CHECKS = {
    "read_a": _read,
    "read_b": _read,
    "search": _search,
    "search_b": _search,
    "slots": _slots,
    "book_a": _book_cell,
    "book_b": _book_cell,
    "cancel": _change,
    "arrive": _change,
    "move": _change,
    "open_slots": _open_slots,
}


@pytest.mark.parametrize(("label", "endpoint", "x"), CELLS, ids=["-".join(c) for c in CELLS])
def test_cell(reach_world: ReachWorld, label: str, endpoint: str, x: str) -> None:
    caller, want = reach_world.callers[label], expect(label, endpoint, x)
    CELL_CHECKS[endpoint](reach_world, caller, want, endpoint, x)


@pytest.mark.parametrize("label", list(EXPECTED))
def test_unfiltered_search_covers_exactly_the_reach(reach_world: ReachWorld, label: str) -> None:
    rw, caller = reach_world, reach_world.callers[label]
    r, rid = rw.call(caller, "GET", f"/fhir/Appointment?{_seeded_window(rw)}&_count=100")
    assert r.status_code == 200, r.text
    served = bundle_resources(r)
    pairs = {
        s["id"]: (rw.label_of_practitioner(practitioner_of(s)), rw.label_of_patient(patient_of(s)))
        for s in served
    }
    assert set(pairs.values()) == visible_in_search_all(label)
    assert sorted(pairs) == sorted(rw.seeded[pair] for pair in visible_in_search_all(label))
    medical = {aid: medical_in_search_all(label, *pair) for aid, pair in pairs.items()}
    assert_served(rw, r, rid, served, medical)


@pytest.mark.parametrize("label", list(EXPECTED))
def test_unfiltered_slot_search_covers_exactly_the_reach(
    reach_world: ReachWorld, label: str
) -> None:
    """Leaving the practitioner out must not show the slots that naming them would refuse."""
    rw, caller = reach_world, reach_world.callers[label]
    window = f"start=ge{_day(POOL_DAYS_AHEAD - 1)}&start=lt{_day(POOL_DAYS_AHEAD + 3)}"
    url: str | None = f"/fhir/Slot?{window}&_count=100"
    slots: set[str] = set()
    while url:
        r, _ = rw.call(caller, "GET", url)
        assert r.status_code == 200, r.text
        slots |= {s["id"] for s in bundle_resources(r)}
        nxt = [link["url"] for link in r.json().get("link", []) if link["relation"] == "next"]
        url = nxt[0].removeprefix(rw.world.base) if nxt else None
    assert slots <= set().union(*rw.pool_ids.values())
    agendas = {x for x in PRACTITIONERS if slots & rw.pool_ids[x]}
    assert agendas == EXPECTED[label].slots


@pytest.mark.parametrize("label", list(EXPECTED))
def test_crypto_shredding(reach_world: ReachWorld, label: str) -> None:
    rw, caller, want = reach_world, reach_world.callers[label], expect(label, "shred")
    patient_id = rw.new_patient()
    r, rid = rw.call(
        caller, "DELETE", f"/v1/patients/{patient_id}/medical-key", json={"reason": "erasure"}
    )
    if not want.allowed:
        assert_denied(rw, caller, r, rid, None)
        return
    assert r.status_code == 200, r.text
    assert r.json()["patient_id"] == patient_id


def test_the_matrix_covers_every_route_and_kind(reach_world: ReachWorld) -> None:
    """The matrix is only as good as its coverage: every HTTP route, every principal built."""
    from services.booking.routes import API
    from services.common.http.openapi import document

    asked = {
        ("get", "/fhir/Appointment/{appointment_id}"),
        ("patch", "/fhir/Appointment/{appointment_id}"),
        ("get", "/fhir/Appointment"),
        ("post", "/fhir/Appointment"),
        ("get", "/fhir/Slot"),
        ("post", "/v1/practitioners/{practitioner_id}/slots"),
        ("delete", "/v1/patients/{patient_id}/medical-key"),
    }
    # Public by design, serving no data: the shared routes and FHIR discovery.
    public = {"/openapi.json", "/health/live", "/health/ready", "/metrics", "/fhir/metadata",
              "/fhir/.well-known/smart-configuration"}  # fmt: skip
    served = {
        (method, path)
        for path, ops in document(API)["paths"].items()
        if path not in public
        for method in ops
    }
    assert served == asked
    assert set(reach_world.callers) == set(EXPECTED)
    assert set(CELL_CHECKS) == set(PER_PRACTITIONER)

"""Booking's hard guarantees on the real database and bus: one booking per slot, shredding,
suspension and grant revocation enforced within a second, views rebuildable from position 0."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from click.testing import CliRunner
from psycopg_pool import ConnectionPool

from services.booking import readmodels
from services.booking.crypto import KeyDestroyed, KeyRing, MasterKey
from services.cli.main import cli
from services.common.eventstore.store import EventStore
from tests.integration.booking.world import World
from tests.support.people import SCOPES
from tests.support.poll import eventually
from tests.support.stack import ADMIN_TOKEN

REASON = "synthetic reason: follow-up of a biopsy"


@pytest.fixture(scope="module")
def world(migrated_database_url: str, module_broker: str):
    # A long principal TTL: only identity's events can make booking forget a principal here.
    w = World(migrated_database_url, module_broker, BOOKING_PRINCIPAL_TTL_SECONDS=60).start()
    yield w
    w.close()


def test_fifty_concurrent_bookings_of_one_slot_one_wins(world: World):
    practitioner = world.practitioner()
    patients = [world.patient() for _ in range(5)]
    connector = world.connector({practitioner: ["appointment:write", "appointment:read"]})
    slot = world.open_slots(practitioner, count=1)[0]

    def attempt(i: int):
        return world.book(connector["token"], slot, patients[i % 5])

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(attempt, range(50)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == 49, statuses
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.json()["resourceType"] == "OperationOutcome"
    assert "already booked" in loser.json()["issue"][0]["diagnostics"]
    with psycopg.connect(world.database_url) as conn:
        held = conn.execute(
            "SELECT count(*) FROM booking.events WHERE stream_id = %s AND event_type = 'SlotHeld'",
            (f"slot-{slot}",),
        ).fetchone()[0]
        booked = conn.execute(
            "SELECT count(*) FROM booking.appointments WHERE slot_id = %s", (slot,)
        ).fetchone()[0]
    assert (held, booked) == (1, 1)


def _reads_until_refused(world: World, token: str, path: str, started: float) -> float:
    while time.monotonic() - started < 5:
        r = world.request("GET", path, token)
        if r.status_code in (401, 403) or (r.status_code == 200 and not r.json().get("entry")):
            return time.monotonic() - started
        time.sleep(0.01)
    raise AssertionError("still served after 5 s")


@pytest.mark.parametrize("how", ["suspend", "revoke_grant"])
def test_suspension_and_revocation_enforced_within_a_second(world: World, how: str):
    practitioner, patient = world.practitioner(), world.patient()
    slot = world.open_slots(practitioner, count=1)[0]
    assert world.book(ADMIN_TOKEN, slot, patient).status_code == 201
    c = world.connector({practitioner: ["appointment:read"]})
    path = f"/fhir/Appointment?practitioner={practitioner}"
    first = world.request("GET", path, c["token"])
    assert first.status_code == 200 and first.json()["entry"], first.text  # cached now
    started = time.monotonic()
    if how == "suspend":
        world.admin_post(
            f"/v1/connectors/{c['connector_id']}/suspend", {"reason": "operator_request"}
        )
    else:
        import requests

        r = requests.delete(
            f"{world.identity}/v1/practitioners/{practitioner}/grants/{c['connector_id']}",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
    refused_after = _reads_until_refused(world, c["token"], path, started)
    print(f"{how}: refused by booking after {refused_after:.3f} s")
    assert refused_after < 1.0


def test_crypto_shredding_makes_medical_fields_unreadable_everywhere(world: World):
    practitioner, patient = world.practitioner(), world.patient()
    slot = world.open_slots(practitioner, count=1)[0]
    connector = world.connector({practitioner: SCOPES})
    r = world.book(connector["token"], slot, patient, REASON)
    assert r.status_code == 201 and r.json()["reasonCode"][0]["text"] == REASON
    appointment_id = r.json()["id"]

    r = world.request(
        "DELETE",
        f"/v1/patients/{patient}/medical-key",
        connector["token"],
        json={"reason": "erasure request"},
    )
    assert r.status_code == 403  # only an admin erases
    r = world.request(
        "DELETE",
        f"/v1/patients/{patient}/medical-key",
        ADMIN_TOKEN,
        json={"reason": "erasure request (GDPR Art. 17)"},
    )
    assert r.status_code == 200 and r.json()["key_destroyed"] is True

    served = world.request("GET", f"/fhir/Appointment/{appointment_id}", connector["token"])
    assert served.status_code == 200
    body = served.json()
    assert "reasonCode" not in body and REASON not in served.text
    assert any(t["code"] == "medical-data-erased" for t in body["meta"]["tag"])
    record = world.access_records()[served.headers["X-Carnet-Access-Id"]]
    assert record["medical_decrypted"] is False

    # Every copy of the sealed field (events, view) still exists, and none opens any more.
    pool = ConnectionPool(world.database_url, min_size=1, max_size=2)
    try:
        with pool.connection() as conn:
            blob = conn.execute(
                "SELECT data->'reason' FROM booking.events WHERE stream_id = %s",
                (f"appointment-{appointment_id}",),
            ).fetchone()[0]
            wrapped = conn.execute(
                "SELECT wrapped_key FROM booking.patient_keys WHERE patient_id = %s", (patient,)
            ).fetchone()[0]
        assert blob["ciphertext"] and wrapped is None
        ring = KeyRing(
            pool, MasterKey.from_b64(world.stack.config["booking"]["BOOKING_MASTER_KEY"])
        )
        with pytest.raises(KeyDestroyed):
            ring.open(__import__("uuid").UUID(patient), blob)
    finally:
        pool.close()
    # New medical text for this patient is refused, administrative booking still works.
    slot2 = world.open_slots(practitioner, count=1, days_ahead=6)[0]
    assert world.book(connector["token"], slot2, patient, "new text").status_code == 422
    assert world.book(connector["token"], slot2, patient, None).status_code == 201
    with psycopg.connect(world.database_url) as conn:
        types = [
            r[0]
            for r in conn.execute(
                "SELECT event_type FROM booking.events WHERE stream_id = %s",
                (f"patient-key-{patient}",),
            ).fetchall()
        ]
    assert types == ["PatientMedicalKeyDestroyed"]


def test_views_rebuild_from_position_zero_to_the_same_rows(world: World):
    practitioner, patient = world.practitioner(), world.patient()
    slots = world.open_slots(practitioner, count=3)
    ids = [world.book(ADMIN_TOKEN, s, patient).json()["id"] for s in slots[:2]]
    world.request(
        "PATCH",
        f"/fhir/Appointment/{ids[0]}",
        ADMIN_TOKEN,
        json=[{"op": "replace", "path": "/status", "value": "cancelled"}],
        headers={"Content-Type": "application/json-patch+json"},
    )

    def snapshot(conn):
        return (
            conn.execute("SELECT * FROM booking.slots ORDER BY slot_id").fetchall(),
            conn.execute(
                "SELECT appointment_id, version, slot_id, status, reason, note"
                " FROM booking.appointments ORDER BY appointment_id"
            ).fetchall(),
        )

    pool = ConnectionPool(world.database_url, min_size=1, max_size=2)
    try:
        store = EventStore(pool, "booking")
        eventually(lambda: store.count_pending_after(store.head()) == 0, what="quiet log")
        with pool.connection() as conn:
            before = snapshot(conn)
        out = CliRunner().invoke(
            cli, ["replay", "rebuild", "booking.views", "--database-url", world.database_url]
        )
        assert out.exit_code == 0, out.output
        with pool.connection() as conn:
            after = snapshot(conn)
            position, last = conn.execute(
                "SELECT (SELECT position FROM booking.view_positions WHERE view_name = %s),"
                " (SELECT max(position) FROM booking.events)",
                (readmodels.VIEW,),
            ).fetchone()
    finally:
        pool.close()
    folded = re.search(r"read \d+ events \((\d+) folded\)", out.output)
    assert folded and int(folded[1]) > 0 and "swapped in" in out.output, out.output
    assert position == last
    assert after == before

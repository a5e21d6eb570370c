"""Booking's one fold: event by event (as commands apply what they append) and in batches of
any size (as the rebuild folds the log) it gives the same rows, the state the history leaves."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from services.booking import readmodels, readmodels_fold
from services.common.projections.event_log import LogEvent

T0 = datetime(2031, 2, 3, 9, 0, tzinfo=UTC)
# What a history leaves: each slot's holder, each appointment's (slot, version, status).
State = tuple[dict[str, str | None], dict[str, tuple[str, int, str]]]


def random_log(
    rng: random.Random, slots_n: int = 40, steps: int = 90
) -> tuple[list[LogEvent], State]:
    """A valid history (slots opened, then bookings, reschedules, cancellations, statuses)."""
    at = iter(T0 + timedelta(seconds=n) for n in range(10**6))
    practitioner, log = str(uuid.uuid4()), []
    slots = [
        {"slot_id": str(uuid.uuid4()), "start": (T0 + timedelta(minutes=20 * k)).isoformat(),
         "end": (T0 + timedelta(minutes=20 * k + 20)).isoformat()}
        for k in range(slots_n)
    ]  # fmt: skip
    for k in range(0, slots_n, 10):
        opened = {"schedule_id": str(uuid.uuid4()), "practitioner_id": practitioner,
                  "service_type": "consultation", "slots": slots[k : k + 10]}  # fmt: skip
        log.append(LogEvent("SlotsOpened", 1, opened, 1, next(at)))
    holder: dict[str, str | None] = {s["slot_id"]: None for s in slots}
    live: dict[str, dict[str, Any]] = {}  # appointment -> {slot, version, status}

    def event(kind: str, data: dict[str, Any], version: int) -> None:
        log.append(LogEvent(kind, 1, data, version, next(at)))

    for _ in range(steps):
        free = [s for s in slots if holder[s["slot_id"]] is None]
        active = [a for a, v in live.items() if v["status"] == "booked"]
        move = rng.random()
        if free and (move < 0.4 or not active):
            s, a = rng.choice(free), str(uuid.uuid4())
            holder[s["slot_id"]] = a
            event("SlotHeld", {"slot_id": s["slot_id"], "appointment_id": a}, 1)
            reason = rng.choice([None, {"ciphertext": "c2VhbGVk", "key_version": 1}])
            booked = {
                "appointment_id": a, "slot_id": s["slot_id"], "practitioner_id": practitioner,
                "patient_id": str(uuid.uuid4()), "start": s["start"], "end": s["end"],
                "service_type": "consultation", "reason": reason, "booked_by": practitioner,
                "connector_id": None,
            }  # fmt: skip
            event("AppointmentBooked", booked, 1)
            live[a] = {"slot": s, "version": 1, "status": "booked"}
        elif active and move < 0.6 and free:
            a = rng.choice(active)
            old, new = live[a]["slot"], rng.choice(free)
            holder[new["slot_id"]] = a
            event("SlotHeld", {"slot_id": new["slot_id"], "appointment_id": a}, 1)
            live[a]["version"] += 1
            event("AppointmentRescheduled", {"appointment_id": a, "slot_id": new["slot_id"],
                  "start": new["start"], "end": new["end"]}, live[a]["version"])  # fmt: skip
            holder[old["slot_id"]] = None
            event("SlotReleased", {"slot_id": old["slot_id"], "appointment_id": a}, 1)
            live[a]["slot"] = new
        elif active and move < 0.8:
            a = rng.choice(active)
            live[a]["version"] += 1
            live[a]["status"] = "cancelled"
            note = rng.choice([None, {"ciphertext": "bm90ZQ==", "key_version": 1}])
            event("AppointmentCancelled", {"appointment_id": a, "note": note}, live[a]["version"])
            holder[live[a]["slot"]["slot_id"]] = None
            event("SlotReleased", {"slot_id": live[a]["slot"]["slot_id"], "appointment_id": a}, 1)
        elif active:
            a = rng.choice(active)
            live[a]["version"] += 1
            live[a]["status"] = rng.choice(["arrived", "fulfilled", "noshow"])
            event("AppointmentStatusChanged", {"appointment_id": a,
                  "status": live[a]["status"]}, live[a]["version"])  # fmt: skip
    appointments = {a: (v["slot"]["slot_id"], v["version"], v["status"]) for a, v in live.items()}
    return log, (holder, appointments)


def _tables(conn: psycopg.Connection, suffix: str) -> dict[str, str]:
    names = {}
    for live in (readmodels.SLOTS, readmodels.APPOINTMENTS):
        copy = f"{live}_{suffix}"
        conn.execute(f"CREATE TEMP TABLE {copy.split('.')[1]} (LIKE {live} INCLUDING ALL)")
        names[live] = copy.split(".")[1]
    return names


def _rows(conn: psycopg.Connection, tables: dict[str, str]) -> dict[str, set[str]]:
    return {
        k: {r[0] for r in conn.execute(f"SELECT t::text FROM {t} t")} for k, t in tables.items()
    }


def _state(conn: psycopg.Connection, tables: dict[str, str]) -> State:
    slots = conn.execute(
        f"SELECT slot_id::text, appointment_id::text FROM {tables[readmodels.SLOTS]}"
    )
    appointments = conn.execute(
        f"SELECT appointment_id::text, slot_id::text, version, status"
        f" FROM {tables[readmodels.APPOINTMENTS]}"
    )
    return dict(slots.fetchall()), {a: (s, v, st) for a, s, v, st in appointments.fetchall()}


@pytest.mark.parametrize("seed", range(6))
def test_event_by_event_and_batches_of_any_size_give_the_same_rows(migrated_database_url, seed):
    rng = random.Random(seed)
    log, history = random_log(rng)
    with psycopg.connect(migrated_database_url) as conn:
        one, batched, whole = (_tables(conn, n) for n in ("one", "batched", "whole"))
        for e in log:  # as commands fold the events they have just appended
            readmodels_fold.fold(conn, [e], one)
        i = 0
        while i < len(log):  # random cuts, as a rebuild's batches fall anywhere in the log
            size = rng.choice([2, 3, 7, 50, 500])
            readmodels_fold.fold(conn, log[i : i + size], batched)
            i += size
        readmodels_fold.fold(conn, log, whole)
        expected = _rows(conn, one)
        assert len(expected[readmodels.APPOINTMENTS]) > 20
        assert any("cancelled" in r for r in expected[readmodels.APPOINTMENTS])
        assert _state(conn, one) == history
        # every slot says when it was opened, held or released last (meta.lastUpdated)
        undated = f"SELECT count(*) FROM {one[readmodels.SLOTS]} WHERE updated_at IS NULL"
        assert conn.execute(undated).fetchone()[0] == 0
        assert _rows(conn, batched) == expected
        assert _rows(conn, whole) == expected

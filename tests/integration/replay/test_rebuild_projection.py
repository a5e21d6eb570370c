"""`carnet replay rebuild`: new tables beside the live ones, resumable, swapped in atomically."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from services.audit.access_index_projection import PROJECTION as ACCESS_INDEX
from services.booking.readmodels_projection import PROJECTION as BOOKING_VIEWS
from services.cli.main import cli
from services.ops.rebuild import Rebuild, RefusedSwap
from tests.integration.audit.world import World as AuditWorld
from tests.integration.booking.world import World
from tests.support.access_records import expected, fill, index
from tests.support.ledger import Ledger
from tests.support.poll import eventually
from tests.support.stack import ADMIN_TOKEN

pytestmark = pytest.mark.slow


class Interrupted(Exception):
    """Stands for Ctrl-C or a killed process between two committed batches."""


@pytest.fixture(scope="module")
def world(migrated_database_url: str, module_broker: str) -> Iterator[World]:
    w = World(migrated_database_url, module_broker).start()
    yield w
    w.close()


@pytest.fixture(scope="module")
def agenda(world: World) -> dict[str, Any]:
    """A practitioner's agenda with bookings, a cancellation, a reschedule and reads."""
    practitioner = world.practitioner()
    slots = world.open_slots(practitioner, count=12)
    patients = [world.patient() for _ in range(3)]
    booked = []
    for n, slot in enumerate(slots[:6]):
        r = world.book(ADMIN_TOKEN, slot, patients[n % 3])
        assert r.status_code == 201, r.text
        booked.append(r.json()["id"])
    cancel = [{"op": "replace", "path": "/status", "value": "cancelled"}]
    move = [{"op": "replace", "path": "/slot/0/reference", "value": f"Slot/{slots[9]}"}]
    for appointment, patch in ((booked[0], cancel), (booked[1], move)):
        r = world.request(
            "PATCH",
            f"/fhir/Appointment/{appointment}",
            ADMIN_TOKEN,
            json=patch,
            headers={"Content-Type": "application/json-patch+json"},
        )
        assert r.status_code == 200, r.text
    r = world.request("GET", f"/fhir/Appointment?practitioner={practitioner}", ADMIN_TOKEN)
    assert r.status_code == 200, r.text
    return {"practitioner": practitioner, "slots": slots, "patients": patients}


def views(url: str) -> dict[str, set[str]]:
    """Each view's rows in their text form (jsonb columns make tuples unhashable)."""
    with psycopg.connect(url) as conn:
        return {
            t: {r[0] for r in conn.execute(f"SELECT v::text FROM {t} v")}
            for t in BOOKING_VIEWS.tables
        }


def appointment_ids(url: str) -> set[uuid.UUID]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT appointment_id FROM booking.appointments")}


def catalog(url: str) -> dict[str, Any]:
    """Index names and grants of the live tables: the swap must keep both."""
    with psycopg.connect(url) as conn:
        return {
            t: (
                sorted(conn.execute(
                    "SELECT indexname, regexp_replace(indexdef, ' ON \\S+', '') FROM pg_indexes"
                    " WHERE schemaname || '.' || tablename = %s", (t,)).fetchall()),
                sorted(conn.execute(
                    "SELECT grantee, privilege_type FROM information_schema.role_table_grants"
                    " WHERE table_schema || '.' || table_name = %s", (t,)).fetchall()),
            )
            for t in (*BOOKING_VIEWS.tables, *ACCESS_INDEX.tables)
        }  # fmt: skip


def test_a_rebuild_from_zero_gives_the_live_rows_and_the_service_keeps_serving(world, agenda):
    url = world.database_url
    live, shape = views(url), catalog(url)
    assert len(live["booking.appointments"]) == 6 and len(live["booking.slots"]) == 12

    dry = CliRunner().invoke(cli, ["replay", "rebuild", "booking.views", "--dry-run",
                                   "--database-url", url])  # fmt: skip
    assert dry.exit_code == 0, dry.output
    assert "would start from 0" in dry.output and "booking.appointments: 6 rows" in dry.output
    assert views(url) == live  # a dry run writes nothing
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('booking.slots__rebuild')").fetchone()[0] is None

    ran = CliRunner().invoke(cli, ["replay", "rebuild", "booking.views", "--database-url", url])
    assert ran.exit_code == 0, ran.output
    assert "swapped in" in ran.output
    assert views(url) == live
    assert catalog(url) == shape  # same index names and definitions, same grants

    # The service writes and reads the swapped-in tables (its cached plans follow the rename).
    r = world.book(ADMIN_TOKEN, agenda["slots"][10], agenda["patients"][0])
    assert r.status_code == 201, r.text
    new_id = r.json()["id"]
    found = world.request("GET", f"/fhir/Appointment/{new_id}", ADMIN_TOKEN)
    assert found.status_code == 200, found.text
    assert uuid.UUID(new_id) in appointment_ids(url)


def test_an_interrupted_rebuild_resumes_and_still_matches(world, agenda):
    url = world.database_url
    live = views(url)
    batches = iter(range(100))

    def stop_after_two(_done: int, _total: int) -> None:
        if next(batches) == 1:
            raise Interrupted

    first = Rebuild(lambda: psycopg.connect(url), BOOKING_VIEWS, batch=3, progress=stop_after_two)
    with pytest.raises(Interrupted):
        first.run()
    plan = Rebuild(lambda: psycopg.connect(url), BOOKING_VIEWS).plan()
    assert plan.resume_from is not None and plan.resume_from != [0, 0]
    assert 0 < sum(plan.shadow_rows.values()) < sum(len(v) for v in live.values())
    assert views(url) == live  # the live tables never saw the half-built ones

    with psycopg.connect(url) as conn:
        total = conn.execute("SELECT count(*) FROM booking.events").fetchone()[0]
    second = Rebuild(lambda: psycopg.connect(url), BOOKING_VIEWS, batch=3).run()
    assert second.resumed and second.swapped
    assert second.scanned == plan.to_scan == total - 6  # two batches of 3 were kept
    assert views(url) == live


def test_the_swap_is_refused_while_the_new_tables_are_behind(world, agenda):
    url = world.database_url
    job = Rebuild(lambda: psycopg.connect(url), BOOKING_VIEWS, max_lock_catch_up=0)
    assert not job.run(swap=False).swapped
    # An older transaction still running holds the gap-free reader back; a booking after it
    # commits, so the new tables are behind the live ones when the swap is asked for.
    holder = psycopg.connect(url)
    holder.execute("SELECT pg_current_xact_id()")
    try:
        r = world.book(ADMIN_TOKEN, agenda["slots"][11], agenda["patients"][1])
        assert r.status_code == 201, r.text
        with pytest.raises(RefusedSwap, match="behind"):
            job.run()
        cli_refusal = CliRunner().invoke(
            cli, ["replay", "rebuild", "booking.views", "--max-lock-catch-up", "0",
                  "--database-url", url])  # fmt: skip
        assert cli_refusal.exit_code == 2 and "nothing was swapped" in cli_refusal.output
    finally:
        holder.rollback()
        holder.close()

    def swapped() -> bool:
        try:
            return job.run().swapped
        except RefusedSwap:  # a transaction of another test run on this server holds it back
            return False

    assert eventually(swapped, 30, "the swap, nothing holding the log back any more")
    assert uuid.UUID(r.json()["id"]) in appointment_ids(url)


def test_booking_and_reading_while_the_swap_runs_lose_and_double_nothing(world, agenda):
    url = world.database_url
    practitioner = agenda["practitioner"]
    slots = world.open_slots(practitioner, count=10, days_ahead=5)
    results: list[Any] = []

    def book_all() -> None:
        for slot in slots:
            results.append(world.book(ADMIN_TOKEN, slot, agenda["patients"][2]))
            # Reads commit access records into the log while the views are locked: the swap
            # must not take them for rows it is missing (it refused, once, in CI).
            search = f"/fhir/Appointment?practitioner={practitioner}"
            assert world.request("GET", search, ADMIN_TOKEN).status_code == 200

    booker = threading.Thread(target=book_all)
    booker.start()
    try:
        for _ in range(3):
            Rebuild(lambda: psycopg.connect(url), BOOKING_VIEWS, batch=50).run()
    finally:
        booker.join()
    assert all(r.status_code == 201 for r in results), [r.text for r in results]
    wanted = {uuid.UUID(r.json()["id"]) for r in results}
    live = views(url)
    assert wanted <= appointment_ids(url)
    Rebuild(lambda: psycopg.connect(url), BOOKING_VIEWS).run()
    assert views(url) == live


def test_the_access_index_rebuilds_beside_the_live_one(fresh_migrated_database_url):
    from services.audit import access_index

    audit = AuditWorld(fresh_migrated_database_url)
    try:
        book = Ledger(audit.pool)
        fill(book, 80, seed=11)
        with psycopg.connect(fresh_migrated_database_url) as conn:
            access_index.catch_up(conn)
        live = index(fresh_migrated_database_url)
        assert live == expected(book, fresh_migrated_database_url)

        def stop_past_30(done: int, _total: int) -> None:
            if done > 30:
                raise Interrupted

        connect = lambda: psycopg.connect(fresh_migrated_database_url)  # noqa: E731
        first = Rebuild(connect, ACCESS_INDEX, batch=10, progress=stop_past_30)
        with pytest.raises(Interrupted):
            first.run()
        fill(book, 20, seed=12)  # the ledger grows while the rebuild is paused
        outcome = Rebuild(connect, ACCESS_INDEX).run()
        assert outcome.resumed and outcome.swapped
        assert index(fresh_migrated_database_url) == expected(book, fresh_migrated_database_url)
        with psycopg.connect(fresh_migrated_database_url) as conn:
            assert access_index.position(conn) == conn.execute(
                "SELECT max(seq) FROM audit.ledger").fetchone()[0]  # fmt: skip
            assert access_index.catch_up(conn) == 0  # the live catch-up has nothing left to do
            guards = conn.execute(
                "SELECT tgrelid::regclass::text, tgname FROM pg_trigger"
                " WHERE tgname LIKE 'access_%%' AND NOT tgisinternal ORDER BY 1, 2"
            ).fetchall()
        # the swapped-in tables are guarded as the old ones (migrations 0026 and 0030)
        assert set(guards) == {
            (f"audit.{t}", f"{t}_{kind}")
            for t in ("access_requests", "access_entries", "access_targets")
            for kind in ("guard", "no_change", "no_truncate")
        }, guards
        fill(book, 5, seed=13)
        with psycopg.connect(fresh_migrated_database_url) as conn:
            access_index.catch_up(conn)  # and the projector still adds past its position
        assert index(fresh_migrated_database_url) == expected(book, fresh_migrated_database_url)
    finally:
        audit.close()

"""Booking's code as the recorded-reads bench drives it: its contexts and recorders, the seeding
commands, one search, and the parts of record() the breakdown times.

Every call into services.* of this bench is here, so a change to booking's API or routes is
adapted in this one module.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import structlog
from psycopg_pool import ConnectionPool

from scripts.bench._reads_data import (
    BOOKERS,
    PAGES,
    REASONS,
    SEED,
    SLOTS_PER_DAY,
    SPARE_SLOTS,
    Agenda,
    intervals,
    patient_row,
    practitioner_row,
    shares,
)

# The other _reads_* modules name Ctx, Principal, READ and READ_MEDICAL from here, not from
# services.booking: this module is the bench's one dependency on booking.
from services.booking import access, commands, directory
from services.booking.access import AccessRecorder
from services.booking.context import Ctx, Settings
from services.booking.crypto import KeyRing, MasterKey, generate_master_key_b64
from services.booking.domain.slots import MAX_SLOTS_PER_OPENING
from services.booking.fhir_input import NewAppointment
from services.booking.reach import READ, READ_MEDICAL, Principal
from services.booking.routes import API
from services.common.eventstore.store import EventStore
from services.common.http.edge import Site, serve
from services.common.http.request import Request
from services.common.logging import bind_context, configure_logging

BASE_URL = "http://booking.bench"


class TimedRecorder(AccessRecorder):
    """AccessRecorder, plus the time of each record() (two clock reads per search)."""

    def __init__(self, store: EventStore) -> None:
        super().__init__(store)
        self.ns: list[int] = []

    def record(self, *args: Any, **kwargs: Any) -> uuid.UUID:
        """The real record, timed."""
        t0 = time.perf_counter_ns()
        try:
            return super().record(*args, **kwargs)
        finally:
            self.ns.append(time.perf_counter_ns() - t0)


class UnrecordedReads(AccessRecorder):
    """Records nothing, to measure what recording costs: the bench's own, never the service's."""

    def __init__(self) -> None:
        pass

    def record(self, *args: object, **kwargs: object) -> uuid.UUID:  # type: ignore[override]
        """Pretend: the benchmark compares this against the real recorder."""
        return uuid.uuid4()


def quiet_logging() -> None:
    """Logging as the service configures it (JSON lines, INFO), written to /dev/null."""
    configure_logging("booking", "INFO", stream=open(os.devnull, "w"))  # noqa: SIM115


@contextmanager
def contexts(url: str) -> Iterator[tuple[Ctx, Ctx]]:
    """The traced and untraced sides: one pool, store and key ring, two recorders."""
    pool = ConnectionPool(url, min_size=1, max_size=10, open=True, name="bench-booking")
    try:
        store = EventStore(pool, "booking")
        keys = KeyRing(pool, MasterKey.from_b64(generate_master_key_b64()))
        settings = Settings()
        traced = Ctx(pool, store, keys, TimedRecorder(store), settings)
        untraced = Ctx(pool, store, keys, UnrecordedReads(), settings)
        yield traced, untraced
    finally:
        pool.close()


def connectors(reached: list[uuid.UUID]) -> dict[str, Principal]:
    """The measured connectors, by scenario: read scope only, and read plus read-medical."""
    return {
        READ: Principal("connector", uuid.uuid4(), frozenset({READ}), {READ: frozenset(reached)}),
        f"{READ} + {READ_MEDICAL}": Principal(
            "connector",
            uuid.uuid4(),
            frozenset({READ, READ_MEDICAL}),
            {READ: frozenset(reached), READ_MEDICAL: frozenset(reached)},
        ),
    }


def seed(ctx: Ctx, n_practitioners: int, n_patients: int, n_appointments: int) -> Agenda:
    """Directory rows, then slots and bookings through commands.open_slots and commands.book."""
    rng = random.Random(SEED)
    practitioners = [uuid.uuid4() for _ in range(n_practitioners)]
    patients = [uuid.uuid4() for _ in range(n_patients)]
    with ctx.pool.connection() as conn, conn.transaction():
        for i, pid in enumerate(practitioners):
            directory.apply_practitioner(conn, practitioner_row(i, pid))
        for i, pid in enumerate(patients):
            directory.apply_patient(conn, patient_row(i, pid, rng))
    admin = Principal(kind="staff", id=uuid.uuid4(), role="admin")
    per = shares(n_appointments, n_practitioners)
    n_slots = max(1, math.ceil(max(per) * SPARE_SLOTS))
    first_day = datetime.now(UTC).date() + timedelta(days=1)
    times = intervals(first_day, n_slots)
    bookings: list[NewAppointment] = []
    for pid, wanted in zip(practitioners, per, strict=True):
        slots = []
        for at in range(0, len(times), MAX_SLOTS_PER_OPENING):
            chunk = times[at : at + MAX_SLOTS_PER_OPENING]
            slots += commands.open_slots(ctx, admin, pid, "consultation", chunk)
        for row in rng.sample(slots, wanted):
            reason = rng.choice(REASONS) if rng.random() < 1 / 3 else None
            bookings.append(NewAppointment(row.slot_id, rng.choice(patients), reason, None))
    rng.shuffle(bookings)
    started, done = time.monotonic(), 0
    with ThreadPoolExecutor(BOOKERS) as pool:
        for _ in pool.map(lambda new: commands.book(ctx, admin, new), bookings):
            done += 1
            if done % 2000 == 0:
                rate = done / (time.monotonic() - started)
                print(f"    booked {done:,}/{len(bookings):,} ({rate:,.0f}/s)", flush=True)
    agenda = Agenda(practitioners, first_day, math.ceil(n_slots / SLOTS_PER_DAY))
    with ctx.pool.connection() as conn:
        agenda.booked, agenda.with_reason = conn.execute(
            "SELECT count(*), count(reason) FROM booking.appointments"
        ).fetchone()
        conn.execute("ANALYZE")
    return agenda


class _Given(Site):
    """The edge's Site with the context and principal given: identity is not measured."""

    def __init__(self, ctx: Ctx, p: Principal) -> None:
        self.ctx, self.p = ctx, p

    def context(self) -> Ctx:
        """The bench's Ctx."""
        return self.ctx

    def authenticate(self, ctx: Ctx, req: Request) -> Principal:
        """The measured connector, as identity would have answered."""
        return self.p


def walk(ctx: Ctx, p: Principal, query: str) -> tuple[list[int], int]:
    """Up to PAGES searches following the next links; ns per search and appointments served.

    One search is what the shared edge runs once the caller is authenticated: the route
    (parse, search, build, record, bundle) and the JSON body; not HTTP, not identity.
    """
    times, served = [], 0
    site, route = _Given(ctx, p), API.route("search_appointments")
    for _ in range(PAGES):
        req = Request(
            method="GET",
            path="/fhir/Appointment",
            query_string=query,
            headers={"User-Agent": "carnet-bench/1.0", "Accept": "application/fhir+json"},
            body=b"",
            remote_addr="10.0.0.7",
            request_id=str(uuid.uuid4()),
            base_url=BASE_URL,
        )
        structlog.contextvars.clear_contextvars()
        t0 = time.perf_counter_ns()
        bind_context(request_id=req.request_id, principal_kind=p.kind, principal_id=str(p.id))
        response = serve(site, route, req)
        body = json.dumps(response.body)
        times.append(time.perf_counter_ns() - t0)
        if response.status != 200:
            raise RuntimeError(f"search answered {response.status}: {body[:300]}")
        served += len(response.body.get("entry", ()))
        nxt = [x["url"] for x in response.body["link"] if x["relation"] == "next"]
        if not nxt:
            break
        query = urlsplit(nxt[0]).query
    return times, served


# --- the parts of record(), timed for the breakdown ----------------------------------------------


def _timed(call: Callable[..., Any], into: list[int]) -> Callable[..., Any]:
    """`call`, adding the ns of each of its calls to `into`."""

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter_ns()
        try:
            return call(*args, **kwargs)
        finally:
            into.append(time.perf_counter_ns() - t0)

    return timed


class _TimedLog:
    """access.log stand-in that times log.info and log.error (they render JSON lines)."""

    def __init__(self, log: Any, into: list[int]) -> None:
        self._log, self._into = log, into

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return _timed(getattr(self._log, name), self._into)


@contextmanager
def _replaced(owner: Any, name: str, stand_in: Any) -> Iterator[None]:
    """owner.name is `stand_in` while inside; then the original again (an instance attribute
    shadowing its class's method is removed, so the method shows through)."""
    own = name in vars(owner)
    original = getattr(owner, name)
    setattr(owner, name, stand_in)
    try:
        yield
    finally:
        if own:
            setattr(owner, name, original)
        else:
            delattr(owner, name)


@contextmanager
def record_parts_timed(ctx: Ctx, parts: dict[str, list[int]]) -> Iterator[None]:
    """While inside, each call of record()'s parts adds its ns to parts["dump"] (the payload
    check), parts["append"] (the store's append) and parts["log"] (the access logger)."""
    store = ctx.recorder.store
    with ExitStack() as stack:
        stack.enter_context(_replaced(access, "log", _TimedLog(access.log, parts["log"])))
        stack.enter_context(_replaced(access, "_check", _timed(access._check, parts["dump"])))
        stack.enter_context(_replaced(store, "append", _timed(store.append, parts["append"])))
        yield

"""The access index: exactly the ledger's access records, rebuildable, resumable, never skipping."""

from __future__ import annotations

import itertools
import random
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from contracts.registry import REGISTRY
from services.audit import access_index, ledger, sequencer
from services.audit.access_index_projection import PROJECTION as ACCESS_INDEX
from services.common.projections import Rebuild
from tests.contract.examples import EXAMPLES
from tests.integration.audit.test_tamper import tamper

T0 = datetime(2030, 3, 1, 8, 0, tzinfo=UTC)
CLASSES = ("administrative", "sensitive", "medical")


class Ledger:
    """Ledgers synthetic events through the sequencer, staged then chained, as the consumer does."""

    def __init__(self, pool: Any) -> None:
        self.pool, self._position, self._versions = pool, itertools.count(1), {}
        self.records: list[tuple[int, int, dict[str, Any], datetime | None]] = []

    def put(
        self,
        event_type: str,
        payload: dict[str, Any],
        *,
        version: int | None = None,
        stream: str | None = None,
        at: datetime | None = None,
        source: str = "booking",
    ) -> int:
        version = version or REGISTRY.latest_version(event_type)
        REGISTRY.validate_for_publish(event_type, payload, version)
        stream = stream or f"test-{uuid.uuid4()}"
        self._versions[stream] = self._versions.get(stream, 0) + 1
        event = ledger.IncomingEvent(
            event_id=uuid.uuid4(),
            source_service=source,
            source_position=next(self._position),
            stream_id=stream,
            stream_version=self._versions[stream],
            event_type=event_type,
            schema_version=version,
            payload=payload,
            metadata={"correlation_id": f"corr-{uuid.uuid4().hex[:8]}"},
            occurred_at=at,
        )
        seq = sequencer.ingest(self.pool, event)
        assert seq is not None
        if event_type == "AppointmentsAccessed":
            self.records.append((seq, version, payload, at))
        return seq


def ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def access_v2(rng: random.Random, people: dict[str, list[str]], **over: Any) -> dict[str, Any]:
    """A valid V2 record: a success with 0..5 entries, or a refusal with none."""
    denied = rng.random() < 0.15
    picked = [] if denied else rng.sample(people["appointments"], rng.randint(0, 5))
    entries = [
        {
            "appointment_id": a,
            "patient_id": people["patient_of"][a],
            "practitioner_id": people["practitioner_of"][a],
        }
        for a in picked
    ]
    connector = rng.choice([*people["connectors"], None])
    classes = [] if not picked else sorted(rng.sample(CLASSES, rng.randint(1, 3)))
    payload = {
        "access_id": str(uuid.uuid4()),
        "principal_kind": "connector" if connector else rng.choice(["practitioner", "patient"]),
        "principal_id": connector or rng.choice(people["people"]),
        "connector_id": connector,
        "network_address": rng.choice(["198.51.100.7", "2001:db8::7", "192.0.2.44"]),
        "user_agent": rng.choice(["AgendaSync/4.2", None]),
        "request_id": f"req-{rng.randrange(10**6)}",
        "operation": rng.choice(["read", "search", "export"]),
        "query": "date=ge2030-03-01",
        "purpose": rng.choice(["care", "agenda_sync", None]),
        "appointment_ids": [e["appointment_id"] for e in entries],
        "patient_ids": list(dict.fromkeys(e["patient_id"] for e in entries)),
        "practitioner_ids": list(dict.fromkeys(e["practitioner_id"] for e in entries)),
        "entries": entries,
        "field_classes": classes,
        "medical_decrypted": "medical" in classes,
        "result_count": len(entries),
        "outcome": "denied" if denied else "success",
        "denial_reason": "outside grant" if denied else None,
    }
    return {**payload, **over}


def access_v1(rng: random.Random, people: dict[str, list[str]], **over: Any) -> dict[str, Any]:
    """A valid V1 record: appointments and patients as two unpaired sets."""
    picked = rng.sample(people["appointments"], rng.randint(1, 4))
    payload = {
        "access_id": str(uuid.uuid4()),
        "principal_id": rng.choice(people["connectors"]),
        "connector_id": rng.choice([*people["connectors"], None]),
        "network_address": "203.0.113.9",
        "request_id": f"req-v1-{rng.randrange(10**6)}",
        "operation": rng.choice(["read", "search"]),
        "purpose": "agenda_sync",
        "appointment_ids": picked,
        "patient_ids": list(dict.fromkeys(people["patient_of"][a] for a in picked)),
        "field_classes": sorted(rng.sample(CLASSES, rng.randint(1, 3))),
    }
    return {**payload, **over}


def population(rng: random.Random) -> dict[str, Any]:
    patients, practitioners, appointments = ids(12), ids(4), ids(40)
    return {
        "appointments": appointments,
        "patient_of": {a: rng.choice(patients) for a in appointments},
        "practitioner_of": {a: rng.choice(practitioners) for a in appointments},
        "connectors": ids(3),
        "people": patients + practitioners,
    }


def fill(book: Ledger, count: int, seed: int = 6) -> None:
    """`count` access records (a fifth V1), other events between them, some without a time."""
    rng = random.Random(seed)
    people = population(rng)
    for n in range(count):
        at = None if n % 17 == 0 else T0 + timedelta(seconds=n * 7 + rng.randrange(5))
        if n % 5 == 4:
            book.put("AppointmentsAccessed", access_v1(rng, people), version=1, at=at)
        else:
            book.put("AppointmentsAccessed", access_v2(rng, people), at=at)
        if n % 9 == 0:  # other events: the index reads past them
            book.put("AppointmentBooked", EXAMPLES["AppointmentBooked"], at=at)
            book.put("TokenIssued", EXAMPLES["TokenIssued"], source="identity", at=at)


def expected(book: Ledger, url: str) -> tuple[list[tuple], set[tuple]]:
    """What the index must hold, computed from the records as written (the ground truth)."""
    with psycopg.connect(url) as conn:
        recorded = dict(conn.execute("SELECT seq, recorded_at FROM audit.ledger").fetchall())
    requests, entries = [], set()
    u = lambda v: uuid.UUID(v) if v else None  # noqa: E731
    for seq, version, p, at in sorted(book.records, key=lambda r: r[0]):
        when = at or recorded[seq]
        if version == 1:
            p = {
                **p,
                "principal_kind": "connector" if p["connector_id"] else "unknown",
                "user_agent": None,
                "query": "",
                "outcome": "success",
                "denial_reason": None,
                "medical_decrypted": "medical" in p["field_classes"],
                "result_count": len(p["appointment_ids"]),
            }
            only = p["patient_ids"][0] if len(p["patient_ids"]) == 1 else None
            pairs = [(a, only, None) for a in p["appointment_ids"]]
        else:
            pairs = [
                (e["appointment_id"], e["patient_id"], e["practitioner_id"]) for e in p["entries"]
            ]
        requests.append(
            (seq, u(p["access_id"]), p["principal_kind"], u(p["principal_id"]),
             u(p["connector_id"]), p["network_address"], p["user_agent"], p["request_id"],
             p["operation"], p["query"], p["purpose"], p["outcome"], p["denial_reason"],
             p["field_classes"], p["medical_decrypted"], p["result_count"], when)
        )  # fmt: skip
        for a, patient, practitioner in pairs:
            entries.add(
                (seq, u(p["access_id"]), u(a), u(patient), u(practitioner),
                 u(p["principal_id"]), u(p["connector_id"]), when)
            )  # fmt: skip
    return requests, entries


def index(url: str) -> tuple[list[tuple], set[tuple]]:
    with psycopg.connect(url) as conn:
        requests = conn.execute(
            f"SELECT {', '.join(access_index.REQUEST_COLUMNS)} FROM audit.access_requests"
            " ORDER BY seq"
        ).fetchall()
        entries = conn.execute(
            f"SELECT {', '.join(access_index.ENTRY_COLUMNS)} FROM audit.access_entries"
        ).fetchall()
    return requests, set(entries)


def catch_up(url: str, **kw: Any) -> int:
    with psycopg.connect(url) as conn:
        return access_index.catch_up(conn, **kw)


def tail_and_position(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        return ledger.tail(conn), access_index.position(conn)


def test_the_index_is_exactly_the_ledgers_access_records(world):
    book = Ledger(world.pool)
    fill(book, 300)
    assert catch_up(world.database_url) == tail_and_position(world.database_url)[0]
    want_requests, want_entries = expected(book, world.database_url)
    got_requests, got_entries = index(world.database_url)
    assert len(got_requests) == 300 and got_requests == want_requests
    assert got_entries == want_entries
    assert any(e[3] is None for e in got_entries)  # V1 with several patients: not paired
    assert any(r[11] == "denied" for r in got_requests)
    position, tail = tail_and_position(world.database_url)
    assert position == tail


def test_rebuild_gives_identical_rows(world):
    book = Ledger(world.pool)
    fill(book, 120, seed=7)
    catch_up(world.database_url)
    before = index(world.database_url)
    connect = lambda: psycopg.connect(world.database_url)  # noqa: E731
    outcome = Rebuild(connect, ACCESS_INDEX, batch=25).run()  # `carnet replay rebuild`
    tail, position = tail_and_position(world.database_url)
    assert outcome.swapped and outcome.scanned == tail == position
    assert index(world.database_url) == before == expected(book, world.database_url)


def test_catch_up_is_idempotent_and_resumes_from_its_position(world):
    book = Ledger(world.pool)
    fill(book, 60, seed=8)
    first = tail_and_position(world.database_url)[0]
    assert catch_up(world.database_url, batch=7) == first  # several batches, each committed
    assert catch_up(world.database_url) == 0
    fill(book, 40, seed=9)
    tail = tail_and_position(world.database_url)[0]
    assert catch_up(world.database_url, batch=1000) == tail - first  # only the new rows
    assert catch_up(world.database_url) == 0
    assert index(world.database_url) == expected(book, world.database_url)
    assert tail_and_position(world.database_url) == (tail, tail)


def test_a_catch_up_that_may_not_wait_skips_while_another_holds_the_position(world):
    book = Ledger(world.pool)
    fill(book, 5, seed=10)
    with psycopg.connect(world.database_url) as holder, holder.transaction():
        holder.execute(
            "SELECT seq FROM audit.projection_positions WHERE name = 'access_index' FOR UPDATE"
        )
        assert catch_up(world.database_url, wait=False) == 0
    assert catch_up(world.database_url, wait=False) == tail_and_position(world.database_url)[0]


def test_a_hole_in_the_ledger_stops_the_index_instead_of_being_skipped(world):
    book = Ledger(world.pool)
    fill(book, 10, seed=11)
    catch_up(world.database_url)
    fill(book, 10, seed=12)
    position = tail_and_position(world.database_url)[1]
    tamper(world, ("DELETE FROM audit.ledger WHERE seq = %s", (position + 2,)))
    with pytest.raises(access_index.LedgerGap) as gap:
        catch_up(world.database_url)
    assert gap.value.seq == position + 2
    assert tail_and_position(world.database_url)[1] == position  # the batch rolled back


def test_concurrent_writers_and_catch_ups_index_every_record_once(world):
    """Replicas' timers (no wait) and queries (wait) racing the sequencer: still exact."""
    book, done = Ledger(world.pool), threading.Event()
    failures: list[BaseException] = []

    def write(seed: int) -> None:
        try:
            fill(book, 40, seed=seed)
        except BaseException as error:  # surfaced below
            failures.append(error)

    def index_loop(wait: bool) -> None:
        try:
            while not done.is_set():
                catch_up(world.database_url, batch=9, wait=wait)
        except BaseException as error:
            failures.append(error)

    writers = [threading.Thread(target=write, args=(s,)) for s in (21, 22, 23)]
    indexers = [threading.Thread(target=index_loop, args=(w,)) for w in (True, False, False)]
    for t in writers + indexers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    for t in indexers:
        t.join()
    assert failures == []
    catch_up(world.database_url)
    assert index(world.database_url) == expected(book, world.database_url)

"""The affected-set bench's synthetic world: who and what the access records name, and the
scraper's planted incident, the same at every size (one seed)."""

from __future__ import annotations

import bisect
import random
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SEED = 6  # the issue number: the same records every run

# The synthetic population.
PRINCIPALS = 200  # 160 connectors (one of them the scraper) and 40 staff members
CONNECTORS = 160
PATIENTS = 50_000
PRACTITIONERS = 1_000
APPOINTMENTS = 500_000  # 500 per practitioner, each of one patient
DAYS = 90
FIRST_DAY = datetime(2026, 8, 3, tzinfo=UTC)
DENIED = 0.10
MEDICAL_CONNECTORS = 0.2  # connectors holding appointment:read-medical
# Records per served request: 40% single reads, 55% searches of 2..49, 5% full pages of 50.
READS, FULL_PAGES, PAGE = 0.40, 0.05, 50
SEARCH_GEOMETRIC_MEAN = 2.3  # int(Exp(2.3)) above 2: a search names 3.8 on average

# The planted incident: the scraper, the same rows at every size.
WINDOW_DAY = 60  # the investigated window is that whole day
SCRAPED = 6_000  # distinct appointments read in the window, pages of 50 ...
REREAD_PAGES = 30  # ... then 30 of those pages again
SCRAPER_DENIED = 17  # requests refused during the incident (outside the connector's reach)
SCRAPER_BACKGROUND = 1_500  # the scraper's ordinary requests over the 90 days

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
NULL = b"\xff\xff\xff\xff"
UUID_LEN = struct.pack("!i", 16)


def label(size: int) -> str:
    """A size as the page names it: 1M, 10M, or the count itself when not whole millions."""
    return f"{size // 1_000_000}M" if size % 1_000_000 == 0 else f"{size:,}"


def cell(value: bytes) -> bytes:
    """One non-null field of a binary COPY row: its length, then its bytes."""
    return struct.pack("!i", len(value)) + value


def _text_array(items: tuple[str, ...]) -> bytes:
    """A text[] field (binary array format: dims, no nulls, element type text, 1-based)."""
    if not items:
        return cell(struct.pack("!iii", 0, 0, 25))
    body = struct.pack("!iiiii", 1, 0, 25, len(items), 1)
    return cell(body + b"".join(cell(x.encode()) for x in items))


def uuid4_bytes(rng: random.Random) -> bytes:
    """A version-4 UUID drawn from `rng`, so every run names the same ids."""
    return uuid.UUID(int=rng.getrandbits(128), version=4).bytes


def pg_micros(at: datetime) -> int:
    """Microseconds since 2000-01-01 UTC: timestamptz on the wire."""
    return (at - PG_EPOCH) // timedelta(microseconds=1)


def _table(rng: random.Random, draw: Any, size: int = 65_536) -> list[Any]:
    """A lookup table of `size` draws, indexed by 16 random bits in the hot loop."""
    return [draw(rng) for _ in range(size)]


def _entries_drawn(rng: random.Random) -> int:
    """Appointments one served request names: a read, a full page, or a search in between."""
    u = rng.random()
    if u < READS:
        return 1
    if u < READS + FULL_PAGES:
        return PAGE
    return min(PAGE - 1, 2 + int(rng.expovariate(1 / SEARCH_GEOMETRIC_MEAN)))


@dataclass
class Principal:
    """A principal's constant fields, pre-encoded: the request row's and the entry row's."""

    connector: uuid.UUID | None
    head: bytes  # principal_kind, principal_id, connector_id, network_address, user_agent
    tail: dict[bool, bytes]  # denied? -> purpose, outcome, denial_reason, classes, decrypted
    who: bytes  # the entry row's principal_id, connector_id
    fields: dict[str, Any]  # the same, as an AppointmentsAccessed payload has them


@dataclass
class World:
    """Who and what the records name: the same at every size (one seed)."""

    triples: list[bytes]  # appointment, patient, practitioner fields, by practitioner
    principals: list[Principal]
    weights: list[int]  # principal index by 16 random bits (index 0, the scraper, never)
    entries: list[int]  # entries per served request by 16 random bits
    queries: list[bytes]
    scraper: uuid.UUID
    scraper_principal: uuid.UUID


def build_world(seed: int = SEED) -> World:
    """Patients, practitioners, appointments and principals, as binary COPY fields."""
    rng = random.Random(seed)
    practitioners = [uuid4_bytes(rng) for _ in range(PRACTITIONERS)]
    patients = [uuid4_bytes(rng) for _ in range(PATIENTS)]
    per = APPOINTMENTS // PRACTITIONERS
    triples = [
        UUID_LEN + uuid4_bytes(rng) + UUID_LEN + rng.choice(patients) + UUID_LEN + pr
        for pr in practitioners
        for _ in range(per)
    ]
    principals = []
    scraper = scraper_principal = None
    for i in range(PRINCIPALS):
        pid = uuid.UUID(bytes=uuid4_bytes(rng))
        if i < CONNECTORS:
            connector = uuid.UUID(bytes=uuid4_bytes(rng))
            medical = i > 0 and rng.random() < MEDICAL_CONNECTORS
            kind, purpose = "connector", "agenda_sync"
            address = f"203.0.{113 + i // 250}.{i % 250 + 1}"
            agent = "python-requests/2.32.3" if i == 0 else f"agenda-sync/3.{i % 7} (vendor {i})"
        else:
            connector, medical, kind, purpose = None, rng.random() < 0.5, "staff", "care"
            address = f"10.8.{i // 250}.{i % 250 + 1}"
            agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/133.0"
        if i == 0:
            scraper, scraper_principal = connector, pid
        classes = ("administrative", "medical", "sensitive") if medical else ("administrative",)
        connector_field = cell(connector.bytes) if connector else NULL
        tail = {
            denied: cell(purpose.encode())
            + (cell(b"denied") + cell(b"practitioner outside the connector's reach") if denied
               else cell(b"success") + NULL)
            + _text_array(() if denied else classes)
            + cell(b"\x01" if medical and not denied else b"\x00")
            for denied in (False, True)
        }  # fmt: skip
        head = b"".join(
            (cell(kind.encode()), cell(pid.bytes), connector_field, cell(address.encode()),
             cell(agent.encode()))
        )  # fmt: skip
        fields = {
            "principal_kind": kind,
            "principal_id": str(pid),
            "connector_id": str(connector) if connector else None,
            "network_address": address,
            "user_agent": agent,
            "purpose": purpose,
            "field_classes": list(classes),
            "medical_decrypted": medical,
        }
        who = cell(pid.bytes) + connector_field
        principals.append(Principal(connector, head, tail, who, fields))
    # Zipf weights over everyone but the scraper: a few busy agenda syncs, a long tail.
    ranks = list(range(1, PRINCIPALS))
    rng.shuffle(ranks)
    cumulative, total = [], 0.0
    for r in ranks:
        total += 1 / r
        cumulative.append(total)

    def principal(r: random.Random) -> int:
        return 1 + min(bisect.bisect_left(cumulative, r.random() * total), len(ranks) - 1)

    queries = [
        cell(
            f"practitioner=Practitioner/{uuid.UUID(bytes=rng.choice(practitioners))}"
            f"&date=ge{(FIRST_DAY + timedelta(days=rng.randrange(DAYS))).date()}"
            f"&date=lt{(FIRST_DAY + timedelta(days=DAYS)).date()}&_count=50".encode()
        )
        for _ in range(4096)
    ]
    assert scraper is not None and scraper_principal is not None
    return World(
        triples,
        principals,
        _table(rng, principal),
        _table(rng, _entries_drawn),
        queries,
        scraper,
        scraper_principal,
    )


@dataclass(order=True)
class Planted:
    """One of the scraper's requests: the same at every size."""

    at: int  # µs since 2000-01-01
    entries: int
    offset: int  # first appointment (the request reads `entries` in a row)
    denied: bool
    access_id: bytes
    request_id: bytes


def window() -> tuple[datetime, datetime]:
    """The investigated window: one whole day, the incident's."""
    start = FIRST_DAY + timedelta(days=WINDOW_DAY)
    return start, start + timedelta(days=1)


def planted(world: World, seed: int = SEED) -> list[Planted]:
    """The scraper's records: 90 days of ordinary use, and the incident in the window's day."""
    rng = random.Random(seed * 1_000_003)
    out = []

    def add(at: int, entries: int, offset: int, denied: bool) -> None:
        out.append(
            Planted(at, entries, offset, denied, uuid4_bytes(rng), rng.randbytes(16).hex().encode())
        )

    span = DAYS * 86_400_000_000
    first = pg_micros(FIRST_DAY)
    for _ in range(SCRAPER_BACKGROUND):
        denied = rng.random() < DENIED
        k = 0 if denied else world.entries[rng.getrandbits(16)]
        add(first + rng.randrange(span), k, rng.randrange(APPOINTMENTS - PAGE), denied)
    # The incident: from 01:00 to 04:00, pages of 50 through 6,000 appointments in a row, then
    # 30 of those pages again, and refusals in between.
    start = pg_micros(window()[0]) + 3_600_000_000
    pages = SCRAPED // PAGE
    base = rng.randrange(APPOINTMENTS - SCRAPED)
    offsets = [base + PAGE * p for p in range(pages)]
    offsets += [base + PAGE * rng.randrange(pages) for _ in range(REREAD_PAGES)]
    times = sorted(rng.randrange(3 * 3_600_000_000) for _ in offsets)
    for at, offset in zip(times, offsets, strict=True):
        add(start + at, PAGE, offset, False)
    for _ in range(SCRAPER_DENIED):
        add(start + rng.randrange(3 * 3_600_000_000), 0, 0, True)
    return sorted(out)

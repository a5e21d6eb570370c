"""One read step: a connector reads pages of its agendas at a fixed rate (nothing booked
meanwhile), then audit is read for each page's access record, in the ledger and the index.

The partner (seeded in _e2e_world) holds grants on every agenda and reads the first page of
coming appointments of each agenda that fills it, in turn, as a sync would, but over and over:
hundreds of pages a second from a few agendas are re-reads of unchanged appointments, which
detection's D1 rule suspends (docs/detection.md). An operator vouches for such a partner before
a planned full re-read (`POST /v1/connectors/{id}/trust`); the bench does the same, so every
record is still judged by every rule and findings are recorded, as reviews. Its quota is the
highest an operator can set.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

import requests

from scripts.bench._e2e_held import cpu_ms_per, held_reasons, lag_series, pace, worst
from scripts.bench._e2e_search import Search, best_rate
from scripts.bench._e2e_step import THREADS, ledger_head
from scripts.bench._e2e_watch import watched
from scripts.bench._e2e_world import World
from scripts.bench._load import Call, Send, achieved_rate, open_loop, percentile
from scripts.bench._system import Lags, System, connect
from services.cli.demo.client import Platform

ACCESS_HEADER = "X-Carnet-Access-Id"  # booking names a page's access record in its answer


@dataclass
class ReadStep:
    """What one read step measured; the analysis reads only these."""

    rate: float
    seconds: float
    count: int  # _count: appointments per page asked for
    reads: list[Call]  # result: the page's access id
    lags: list[Lags]
    ledger: dict[str, tuple[float, float]] = field(default_factory=dict)  # occurred, recorded
    indexed: dict[str, int] = field(default_factory=dict)  # access id: appointments served
    drain_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU s per group, step and drain
    agendas: int = 0  # the agendas read in turn

    @property
    def ok(self) -> list[Call]:
        """Pages answered 200 with their access record named."""
        return [c for c in self.reads if c.status == 200 and c.result]

    @property
    def errors(self) -> int:
        """Pages not answered 200 (refused, failed, or no answer)."""
        return len(self.reads) - len(self.ok)

    @property
    def achieved(self) -> float:
        """Pages answered 200 per second."""
        return achieved_rate(self.ok, 200)

    def http_ms(self, q: float) -> float:
        """Page latency percentile, from when the read was due (open loop), ms."""
        return percentile([c.latency for c in self.ok], q) * 1e3

    def ledgered(self) -> list[tuple[Call, float, float]]:
        """(call, occurred_at, recorded_at) of the pages whose record the ledger holds."""
        return [(c, *self.ledger[c.result]) for c in self.ok if c.result in self.ledger]

    def to_ledger_ms(self, q: float) -> float:
        """Ledger's recorded_at minus the record's occurred_at, percentile, ms."""
        return percentile([r - o for _, o, r in self.ledgered()], q) * 1e3

    @property
    def not_ledgered(self) -> int:
        """Pages answered whose access record the ledger did not hold after the drain."""
        return len(self.ok) - len(self.ledgered())

    @property
    def not_indexed(self) -> int:
        """Pages answered whose access record the access index did not hold after the drain."""
        return sum(1 for c in self.ok if c.result not in self.indexed)

    def served(self, q: float = 50) -> float:
        """Appointments per page, percentile over the indexed records (a full page: count)."""
        return percentile(list(self.indexed.values()), q)

    def cpu_ms_per_read(self, group: str | None = None) -> float:
        """CPU ms one page answered cost a group (all groups when None), step and drain."""
        return cpu_ms_per(self.cpu, len(self.ok), group)

    @property
    def capacity(self) -> float:
        """What the pipeline absorbed: pages answered, or their records ledgered, per second."""
        return pace(self.achieved, [r for _, _, r in self.ledgered()])

    def worst(self, name: str) -> float:
        """The largest sample of one lag (Lags field) during the step."""
        return worst(self.lags, name)

    def verdict(self) -> list[str]:
        """Why this rate was not held; empty when it was."""
        series = {
            "read-to-ledger latency": [(c.due, r - o) for c, o, r in self.ledgered()],
            "page latency": [(c.due, c.latency) for c in self.ok],
            **lag_series(self.lags),
        }
        missing = {"access records not ledgered": self.not_ledgered,
                   "access records not indexed": self.not_indexed}  # fmt: skip
        return held_reasons("pages", len(self.reads), self.errors, self.achieved, self.rate,
                            series, missing, self.drain_s)  # fmt: skip


def page_sender(
    system: System, token: str, practitioners: list[str], since: datetime, count: int
) -> Send:
    """GET a page of `count` coming appointments of these agendas, one after another."""
    auth = {"Authorization": f"Bearer {token}"}
    date = quote(since.strftime("%Y-%m-%dT%H:%M:%SZ"))

    def send(i: int, session: requests.Session) -> tuple[int, str | None]:
        p = practitioners[i % len(practitioners)]
        url = (f"{system.urls['booking']}/fhir/Appointment?practitioner={p}&date=ge{date}"
               f"&_count={count}")  # fmt: skip
        r = session.get(url, headers=auth, timeout=60)
        return r.status_code, r.headers.get(ACCESS_HEADER)

    return send


_COMING = """
SELECT practitioner_id::text, count(*) FROM booking.appointments
 WHERE practitioner_id = ANY(%s) AND start_at >= %s GROUP BY 1 ORDER BY 2 DESC"""


def full_agendas(
    database_url: str, practitioners: list[str], since: datetime, count: int
) -> list[str]:
    """The agendas whose first page is full (`count` coming appointments or more); if none
    is, those with any, fullest first: the bench books on a few agendas at a time."""
    ids = [uuid.UUID(p) for p in practitioners]
    with connect(database_url) as conn:
        rows = conn.execute(_COMING, (ids, since)).fetchall()
    return [p for p, n in rows if n >= count] or [p for p, _ in rows] or practitioners


_LEDGERED = """
SELECT event_id::text, extract(epoch FROM occurred_at), extract(epoch FROM recorded_at)
  FROM audit.ledger WHERE seq > %s AND event_type = 'AppointmentsAccessed'
   AND event_id = ANY(%s)"""
_INDEXED = """
SELECT access_id::text, coalesce(result_count, 0) FROM audit.access_requests
 WHERE seq > %s AND access_id = ANY(%s)"""


def audit_holds(
    database_url: str, after: int, access_ids: list[str]
) -> tuple[dict[str, tuple[float, float]], dict[str, int]]:
    """The records among `access_ids` that the ledger (past seq `after`) and the index hold."""
    ids = [uuid.UUID(a) for a in access_ids]
    with connect(database_url) as conn:
        ledger = conn.execute(_LEDGERED, (after, ids)).fetchall()
        index = conn.execute(_INDEXED, (after, ids)).fetchall()
    return ({a: (float(o), float(r)) for a, o, r in ledger if o is not None},
            {a: int(n) for a, n in index})  # fmt: skip


def run_read_step(
    system: System,
    platform: Platform,
    world: World,
    rate: float,
    seconds: float,
    count: int,
    drain_timeout: float = 180.0,
) -> ReadStep:
    """Read pages of `count` at `rate` for `seconds`; drain; wait (within the drain's time)
    until audit holds every page's record in its ledger and its index, or time is up."""
    url = system.env.database_url
    head = ledger_head(url)
    partner = world.partner
    token = platform.client_token(partner["client_id"], partner["client_secret"])  # 15 min TTL
    since = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    agendas = full_agendas(url, partner["practitioners"], since, count)
    step = ReadStep(rate, seconds, count, [], [], agendas=len(agendas))

    def settle(budget: float) -> float:
        start, ids = time.monotonic(), [c.result for c in step.ok if c.result]
        while True:
            step.ledger, step.indexed = audit_holds(url, head, ids)
            done = len(step.ledger) >= len(ids) and len(step.indexed) >= len(ids)
            if done or time.monotonic() - start > budget:
                return time.monotonic() - start
            time.sleep(0.5)

    def main() -> list[Call]:
        send = page_sender(system, token, agendas, since, count)
        step.reads = open_loop(send, rate, seconds, THREADS)
        return step.reads

    w = watched(system, main, settle=settle, drain_timeout=drain_timeout)
    step.lags, step.drain_s, step.cpu = w.lags, w.drain_s, w.cpu
    return step


@dataclass
class ReadPhase:
    """The read steps of one page size: the start rate's step and the search from it."""

    count: int
    start: float
    base: list[ReadStep]
    found: Search[ReadStep]

    @property
    def reported(self) -> list[ReadStep]:
        """The steps the figures come from: the best rate's confirmation runs, else the start."""
        return self.found.confirm if best_rate(self.found) is not None else self.base

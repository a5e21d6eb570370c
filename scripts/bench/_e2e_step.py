"""One load step: book at a fixed rate while a connector reads, sample the lags, then read
from the audit ledger when each booking was ledgered."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

import requests

from scripts.bench import _cpu
from scripts.bench._e2e_world import World
from scripts.bench._load import Call, Send, achieved_rate, growth, open_loop, percentile
from scripts.bench._system import Lags, System, connect, sample_lags

GROWTH_LIMIT_S = 1.0  # a lag whose last third exceeds its first third by more is growing...
LATE_LIMIT_S = 2.0  # ... when its last third also sits above this (not a jitter near zero)
MAX_ERRORS = 0.005  # share of failed bookings a held rate tolerates
MIN_ACHIEVED = 0.95  # share of the offered rate that must be answered
THREADS = 32
READ_COUNT = 10  # appointments per page the reading connector asks for


@dataclass
class StepResult:
    """What one step measured; the analysis reads only these."""

    rate: float
    seconds: float
    bookings: list[Call]
    reads: list[Call]
    lags: list[Lags]
    # appointment id: (event occurred_at, booking's commit (events.recorded_at), ledger recorded_at)
    ledger: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    drain_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU s per group, step + drain
    # Age (s) of the oldest open writing transaction on the cluster, sampled every 50 ms.
    xact_ages: list[float] = field(default_factory=list)

    @property
    def ok(self) -> list[Call]:
        """Bookings answered 201."""
        return [c for c in self.bookings if c.status == 201]

    @property
    def errors(self) -> int:
        """Bookings not answered 201 (refused, failed, or no answer)."""
        return len(self.bookings) - len(self.ok)

    @property
    def achieved(self) -> float:
        """Bookings answered 201 per second."""
        return achieved_rate(self.bookings)

    def http_ms(self, q: float) -> float:
        """Booking latency percentile, from when the request was due (open loop), ms."""
        return percentile([c.latency for c in self.ok], q) * 1e3

    def ledgered(self) -> list[tuple[Call, float, float, float]]:
        """(call, occurred_at, committed, recorded_at) of the bookings the ledger holds."""
        return [(c, *self.ledger[c.result]) for c in self.ok if c.result in self.ledger]

    def to_ledger_ms(self, q: float) -> float:
        """Ledger's recorded_at minus the event's occurred_at, percentile, ms."""
        return percentile([r - o for _, o, _, r in self.ledgered()], q) * 1e3

    def commit_to_ledger_ms(self, q: float) -> float:
        """Ledger's recorded_at minus booking's commit of the event: relay, broker, audit."""
        return percentile([r - k for _, _, k, r in self.ledgered()], q) * 1e3

    def in_booking_ms(self, q: float) -> float:
        """Booking's commit of the event minus its occurred_at: the command's transaction."""
        return percentile([k - o for _, o, k, _ in self.ledgered()], q) * 1e3

    def after_response_ms(self, q: float) -> float:
        """Ledger's recorded_at minus the client's receipt of the 201, percentile, ms."""
        return percentile([r - c.done for c, _, _, r in self.ledgered()], q) * 1e3

    def oldest_xact_ms(self, q: float) -> float:
        """The oldest open writing transaction's age, percentile over the samples, ms: every
        relay waits for it (ADR 0003)."""
        return percentile(self.xact_ages, q) * 1e3 if self.xact_ages else float("nan")

    def cpu_ms_per_booking(self, group: str | None = None) -> float:
        """CPU ms one answered booking cost a group (all groups when None), step and drain."""
        if not self.ok or not self.cpu:
            return float("nan")
        spent = sum(self.cpu.values()) if group is None else self.cpu.get(group, 0.0)
        return spent * 1e3 / len(self.ok)

    @property
    def capacity(self) -> float:
        """What the pipeline absorbed: the lower of bookings answered per second and
        bookings ledgered per second (first to last ledger row; under overload, its pace)."""
        recorded = sorted(r for _, _, _, r in self.ledgered())
        if len(recorded) < 2 or recorded[-1] == recorded[0]:
            return self.achieved
        return min(self.achieved, (len(recorded) - 1) / (recorded[-1] - recorded[0]))

    @property
    def missing(self) -> int:
        """Bookings answered 201 that the ledger did not hold when the step was read."""
        return len(self.ok) - len(self.ledgered())

    def worst(self, name: str) -> float:
        """The largest sample of one lag (Lags field) during the step."""
        return max((getattr(s, name) for s in self.lags), default=float("nan"))

    def verdict(self) -> list[str]:
        """Why this rate was not held; empty when it was."""
        reasons = []
        if self.errors > MAX_ERRORS * len(self.bookings):
            reasons.append(f"{self.errors} of {len(self.bookings)} bookings failed")
        if self.achieved < MIN_ACHIEVED * self.rate:
            reasons.append(f"{self.achieved:.0f}/s answered of {self.rate:.0f}/s offered")
        series = {
            "booking-to-ledger latency": [(c.due, r - o) for c, o, _, r in self.ledgered()],
            "booking latency": [(c.due, c.latency) for c in self.ok],
            "relay lag": [(s.at, s.relay_seconds) for s in self.lags],
            "consumer lag": [(s.at, s.consumer_seconds) for s in self.lags],
        }
        for name, points in series.items():
            g, late = growth(points)
            if g > GROWTH_LIMIT_S and late > LATE_LIMIT_S:
                reasons.append(f"{name} grew {g:.1f} s over the step, to {late:.1f} s")
        if self.missing:
            reasons.append(f"{self.missing} bookings not ledgered {self.drain_s:.0f} s after")
        return reasons


def booking_sender(system: System, world: World) -> Send:
    """POST /fhir/Appointment as the platform's admin, a free slot each, return=minimal."""
    url = system.urls["booking"] + "/fhir/Appointment"
    headers = {"Authorization": f"Bearer {system.admin_token}",
               "Content-Type": "application/fhir+json", "Prefer": "return=minimal"}  # fmt: skip

    def send(_i: int, session: requests.Session) -> tuple[int, str | None]:
        slot, patient = world.take()
        body = {"resourceType": "Appointment", "status": "proposed",
                "slot": [{"reference": f"Slot/{slot}"}],
                "participant": [{"actor": {"reference": f"Patient/{patient}"},
                                 "status": "accepted"}]}  # fmt: skip
        r = session.post(url, json=body, headers=headers, timeout=60)
        return r.status_code, r.headers.get("Location", "").rsplit("/", 1)[-1] or None

    return send


def reader_sender(system: System, world: World) -> Send:
    """The connector's agenda sync: a page of its practitioners' coming appointments."""
    auth = {"Authorization": f"Bearer {world.reader['token']}"}
    practitioners = world.reader["practitioners"]
    since = quote(datetime.now(UTC).strftime("%Y-%m-%dT00:00:00Z"))

    def send(i: int, session: requests.Session) -> tuple[int, str | None]:
        p = practitioners[i % len(practitioners)]
        url = (f"{system.urls['booking']}/fhir/Appointment?practitioner={p}&date=ge{since}"
               f"&_count={READ_COUNT}")  # fmt: skip
        return session.get(url, headers=auth, timeout=60).status_code, None

    return send


def ledger_head(database_url: str) -> int:
    """The ledger's last seq."""
    with connect(database_url) as conn:
        return conn.execute("SELECT coalesce(max(seq), 0) FROM audit.ledger").fetchone()[0]


def ledger_bookings(database_url: str, after: int) -> dict[str, tuple[float, float, float]]:
    """AppointmentBooked ledger rows after seq `after`, joined to booking's own row by event id:
    appointment id -> (occurred_at, booking's recorded_at, the ledger's recorded_at)."""
    with connect(database_url) as conn:
        rows = conn.execute(
            "SELECT l.payload->>'appointment_id', extract(epoch FROM l.occurred_at),"
            " extract(epoch FROM e.recorded_at), extract(epoch FROM l.recorded_at)"
            " FROM audit.ledger l JOIN booking.events e ON e.event_id = l.event_id"
            " WHERE l.seq > %s AND l.event_type = 'AppointmentBooked'",
            (after,),
        ).fetchall()
    return {a: (float(o), float(k), float(r)) for a, o, k, r in rows if o is not None}


def drain(system: System, timeout: float) -> float:
    """Wait until no message waits in any queue and no relay lags (twice in a row): seconds."""
    start, calm = time.monotonic(), 0
    while time.monotonic() - start < timeout:
        try:
            lags = sample_lags(system)
            calm = calm + 1 if lags.queued == 0 and lags.relay_events == 0 else 0
        except requests.RequestException:
            calm = 0
        if calm >= 2:
            break
        time.sleep(0.5)
    return time.monotonic() - start


# Transactions holding an xid (they wrote), the sampler's own excluded (it writes nothing).
_OLDEST_XACT = """
SELECT coalesce(extract(epoch FROM max(clock_timestamp() - xact_start)), 0)
  FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
"""


def xact_sampler(database_url: str, into: list[float], stop: threading.Event,
                 every: float = 0.05) -> None:  # fmt: skip
    """The oldest writing transaction's age every 50 ms until stopped."""
    with connect(database_url) as conn:
        while not stop.wait(every):
            into.append(float(conn.execute(_OLDEST_XACT).fetchone()[0]))


def sampler(system: System, into: list[Lags], stop: threading.Event, every: float = 1.0) -> None:
    """Sample the lags every second until stopped (a failed scrape is skipped)."""
    while not stop.wait(every):
        try:
            into.append(sample_lags(system))
        except requests.RequestException:
            continue


def run_step(
    system: System,
    world: World,
    rate: float,
    seconds: float,
    read_rate: float,
    drain_timeout: float = 180.0,
) -> StepResult:
    """Book at `rate` for `seconds` while the connector reads; drain; read the ledger."""
    head = ledger_head(system.env.database_url)
    cpu_before = _cpu.snapshot(system.pids)
    lags: list[Lags] = []
    ages: list[float] = []
    stop = threading.Event()
    watcher = threading.Thread(target=sampler, args=(system, lags, stop), daemon=True)
    xacts = threading.Thread(target=xact_sampler, args=(system.env.database_url, ages, stop),
                             daemon=True)  # fmt: skip
    reads: list[Call] = []
    reader = threading.Thread(
        target=lambda: reads.extend(
            open_loop(reader_sender(system, world), read_rate, seconds, 4, stop)
        ),
        daemon=True,
    )
    watcher.start()
    xacts.start()
    reader.start()
    try:
        bookings = open_loop(booking_sender(system, world), rate, seconds, THREADS)
    finally:
        stop.set()
        reader.join()
        watcher.join()
        xacts.join()
    result = StepResult(rate, seconds, bookings, reads, lags, xact_ages=ages)
    result.drain_s = drain(system, drain_timeout)
    result.cpu = _cpu.used(cpu_before, _cpu.snapshot(system.pids))
    result.ledger = ledger_bookings(system.env.database_url, head)
    return result

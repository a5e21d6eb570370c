"""One load step: book at a fixed rate while a connector reads, sample the lags, then read
from the audit ledger when each booking was ledgered."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

import requests

from scripts.bench._e2e_held import cpu_ms_per, held_reasons, lag_series, pace, worst
from scripts.bench._e2e_watch import watched
from scripts.bench._e2e_world import World
from scripts.bench._load import Call, Send, achieved_rate, open_loop, percentile
from scripts.bench._system import Lags, System, connect

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
        return cpu_ms_per(self.cpu, len(self.ok), group)

    @property
    def capacity(self) -> float:
        """What the pipeline absorbed: bookings answered, or ledgered, per second."""
        return pace(self.achieved, [r for _, _, _, r in self.ledgered()])

    @property
    def missing(self) -> int:
        """Bookings answered 201 that the ledger did not hold when the step was read."""
        return len(self.ok) - len(self.ledgered())

    def worst(self, name: str) -> float:
        """The largest sample of one lag (Lags field) during the step."""
        return worst(self.lags, name)

    def verdict(self) -> list[str]:
        """Why this rate was not held; empty when it was."""
        series = {
            "booking-to-ledger latency": [(c.due, r - o) for c, o, _, r in self.ledgered()],
            "booking latency": [(c.due, c.latency) for c in self.ok],
            **lag_series(self.lags),
        }
        return held_reasons("bookings", len(self.bookings), self.errors, self.achieved,
                            self.rate, series, {"bookings not ledgered": self.missing},
                            self.drain_s)  # fmt: skip


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
    w = watched(
        system,
        lambda: open_loop(booking_sender(system, world), rate, seconds, THREADS),
        lambda stop: open_loop(reader_sender(system, world), read_rate, seconds, 4, stop),
        drain_timeout=drain_timeout,
    )
    result = StepResult(rate, seconds, w.main, w.side, w.lags, drain_s=w.drain_s, cpu=w.cpu,
                        xact_ages=w.ages)  # fmt: skip
    result.ledger = ledger_bookings(system.env.database_url, head)
    return result

"""Secrets and personal data: every log line and every bus message of an end-to-end run, scanned.

The four services run as processes (Supervisor, JSON logs to files, LOG_LEVEL=DEBUG so that
every log call site speaks) on a fresh database and vhost, notification sending through a real
local SMTP server. Before they start, a capture queue is bound with '#' to every Carnet
exchange and to nameko's RPC exchange. tests/security/leak_scenario.py plays a day of Carnet;
the services are stopped (their logs complete) and then:

- logs: no password, client secret, token or key (also cut to 16 characters), no argon2 hash,
  no name, e-mail, phone or birth date, no reason for visit, on any line of any service;
- bus: no password, secret, token, key, argon2 hash or reason for visit in any message (events
  and RPC requests and replies); names, e-mails, phones and birth dates only in identity's
  directory events (docs/security.md says why those four carry them).

The test also fails when the capture captured too little: every service must have logged
JSON lines of its own, the bus must show events of every service and RPC traffic, and the
patient's directory event must show the patient's e-mail (the scan does read the bodies).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli.supervisor import Supervisor
from services.common.config import SERVICES
from tests.security import leak_scenario
from tests.security.leak_capture import (
    RPC_EXCHANGE,
    BusCapture,
    Captured,
    Needles,
    found_in,
    json_lines,
    log_lines,
)
from tests.support.ports import free_port
from tests.support.smtp_server import SmtpServer

pytestmark = pytest.mark.slow
ARGON2 = "$argon2"
# docs/security.md: the only bus messages that may carry a name, e-mail, phone or birth date.
DIRECTORY_EVENTS = frozenset(
    {"PractitionerRegistered", "PatientRegistered", "StaffRegistered", "ConnectorRegistered"}
)
# Log lines that sit next to personal data or secrets: the scan must have read them.
EXPECTED_LOG_EVENTS = {
    "identity": {"authentication.failed", "rpc.handled"},
    "booking": {"appointment.booked", "http.request"},
    "notification": {"notification.sent"},
    "audit": {"ledger.appended"},
}
EXPECTED_EVENTS = {
    "identity.events": {
        "PatientRegistered",
        "TokenIssued",
        "AuthenticationFailed",
        "ConnectorSuspended",
    },
    "booking.events": {"AppointmentBooked", "AppointmentCancelled", "AppointmentsAccessed"},
    "notification.events": {"NotificationSent"},
    "audit.events": {"SuspiciousAccessDetected", "IncidentOpened", "BreachNotificationRequested"},
}


@pytest.fixture
def leak_run(
    fresh_migrated_database_url: str, fresh_broker: str, smtp_server: SmtpServer, tmp_path: Path
) -> Iterator[tuple[Supervisor, Needles, BusCapture]]:
    """The four services, started once the capture queue is bound."""
    needles = Needles()
    capture = BusCapture(fresh_broker).start()
    env = {
        **os.environ,
        **{f"{svc.upper()}_HTTP_PORT": str(free_port()) for svc in SERVICES},
        **{k: str(v) for k, v in smtp_server.config.items()},
        "DATABASE_URL": fresh_migrated_database_url,
        "AMQP_URI": fresh_broker,
        "AUDIT_VERIFY_DATABASE_URL": fresh_migrated_database_url,
        "CARNET_ADMIN_TOKEN": needles.secret("bootstrap admin token", secrets.token_urlsafe(32)),
        "LOG_LEVEL": "DEBUG",
        "BOOKING_PRINCIPAL_TTL_SECONDS": "0",  # every request asks identity over RPC
    }
    supervisor = Supervisor(env=env, log_dir=tmp_path / "log")
    supervisor.start()
    try:
        status = supervisor.wait_ready(timeout=120)
        assert {s: v.get("status") for s, v in status.items()} == dict.fromkeys(SERVICES, "ready")
        for key in ("BOOKING_MASTER_KEY", "AUDIT_SIGNING_KEY"):
            needles.secret(key, supervisor.env[key])  # the development keys Supervisor made
        yield supervisor, needles, capture
    finally:
        supervisor.stop()


def _bus_leaks(messages: list[Captured], needles: Needles, reason: str) -> list[tuple]:
    leaks: list[tuple] = []
    for m in messages:
        where = (m.exchange, m.routing_key, m.event_type)
        hits = found_in(needles.secrets, m.text, prefixes=True)
        hits += [ARGON2] if ARGON2 in m.text else []
        hits += ["reason for visit"] if reason in m.text else []
        if not (m.exchange == "identity.events" and m.event_type in DIRECTORY_EVENTS):
            hits += found_in(needles.personal, m.text)
        leaks += [(*where, hit) for hit in hits]
    return leaks


def _log_leaks(lines: dict[str, list[str]], needles: Needles, reason: str) -> list[tuple]:
    leaks: list[tuple] = []
    for service, own in lines.items():
        for number, line in enumerate(own, start=1):
            hits = found_in(needles.secrets, line, prefixes=True)
            hits += found_in(needles.personal, line)
            hits += [ARGON2] if ARGON2 in line else []
            hits += ["reason for visit"] if reason in line else []
            leaks += [(service, number, hit, line[:300]) for hit in hits]
    return leaks


def test_no_secret_or_personal_data_in_logs_or_on_the_bus(
    leak_run: tuple[Supervisor, Needles, BusCapture], smtp_server: SmtpServer
) -> None:
    supervisor, needles, capture = leak_run
    admin = needles.secrets["bootstrap admin token"]
    reason = leak_scenario.run(leak_scenario.Client(supervisor, needles, admin), smtp_server)
    supervisor.stop()  # every line written and flushed before the scan
    messages = capture.drain()
    lines = log_lines(supervisor.log_dir)

    # The capture really captured.
    for service, own in lines.items():
        mine = [x for x in json_lines(own) if x.get("service.name") == service]
        assert len(mine) >= 20, (service, len(mine))
        assert EXPECTED_LOG_EVENTS[service] <= {x.get("event") for x in mine}, service
    seen: dict[str, set[str]] = {}
    for m in messages:
        seen.setdefault(m.exchange, set()).add(m.event_type or "")
    for exchange, types in EXPECTED_EVENTS.items():
        assert types <= seen.get(exchange, set()), (exchange, seen.get(exchange))
    assert sum(m.exchange == RPC_EXCHANGE for m in messages) >= 10
    patient_email = needles.personal["email of patient"]
    directory = [m for m in messages if m.event_type == "PatientRegistered"]
    assert directory and all(patient_email in m.text for m in directory)
    assert "email of patient" in found_in(needles.personal, directory[0].text)
    assert len(needles.secrets) >= 15 and len(needles.personal) >= 12

    types = {(m.exchange, m.event_type) for m in messages if m.event_type}
    print(  # the figures docs/security.md quotes (pytest -s)
        f"leak scan: {sum(map(len, lines.values()))} log lines"
        f" ({', '.join(f'{s} {len(v)}' for s, v in lines.items())}),"
        f" {len(messages)} bus messages ({sum(m.exchange == RPC_EXCHANGE for m in messages)}"
        f" RPC) of {len(types)} event types, {len(needles.secrets)} secrets and"
        f" {len(needles.personal)} personal values looked for"
    )

    # ... and nothing leaked.
    assert _log_leaks(lines, needles, reason) == []
    assert _bus_leaks(messages, needles, reason) == []

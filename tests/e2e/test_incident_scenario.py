"""The seed incident, smaller: the demo's own scenario against the four services as processes.

Asserts what issue #8 asks of the suite: the scraper is suspended; the incident's affected set
equals the scraper's successful reads exactly (the scenario fails on any difference); no
medical field was returned; one notice per affected patient reached the SMTP server; the
ledger verifies at the end.
"""

from __future__ import annotations

import email
import email.policy
import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from services.cli.demo.notices import BREACH_SUBJECTS
from services.cli.demo.run import run_demo
from services.cli.demo.scenario import Attack
from services.cli.demo.seed import Sizes
from services.cli.supervisor import Supervisor
from services.common.config import SERVICES
from tests.support.ports import free_port

pytestmark = pytest.mark.slow


def test_scrape_detect_contain_report_notify(fresh_migrated_database_url, fresh_broker, tmp_path):
    ports = {f"{svc.upper()}_HTTP_PORT": str(free_port()) for svc in SERVICES}

    @contextmanager
    def start(extra: dict[str, str]):
        env = {
            **os.environ,
            **extra,
            **ports,
            "DATABASE_URL": fresh_migrated_database_url,
            "AMQP_URI": fresh_broker,
            "AUDIT_VERIFY_DATABASE_URL": fresh_migrated_database_url,
        }
        supervisor = Supervisor(env=env, log_dir=tmp_path / "log")
        supervisor.start()
        try:
            status = supervisor.wait_ready(timeout=90)
            assert {s: v.get("status") for s, v in status.items()} == dict.fromkeys(
                SERVICES, "ready"
            )
            yield supervisor
        finally:
            supervisor.stop()

    sizes = Sizes(practitioners=6, patients=60, appointments=300, workers=4)
    outcome = run_demo(start, sizes, Attack(granted_practitioners=2, max_seconds=60), tmp_path)

    assert outcome.refused_after_suspension > 0  # suspended, and refused from then on
    assert outcome.first_read_to_suspension_s is not None
    assert outcome.appointments_exposed > 0 and outcome.patients_exposed > 0
    assert outcome.medical_returned == "none"
    assert outcome.field_classes == ["administrative", "sensitive"]
    assert outcome.honest_refused == 0
    assert outcome.notices_requested == outcome.patients_exposed
    assert outcome.mails_received == outcome.notices_requested
    assert outcome.ledger_verified
    mails = Path(tmp_path / "demo" / "mail" / "messages")
    recipients = set()
    for path in mails.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(message["Subject"]) in BREACH_SUBJECTS:
            recipients.add(str(message["To"]))
    assert len(recipients) == outcome.patients_exposed  # one notice per patient, once

"""A kill between the SMTP send and its record: the one documented duplicate, same Message-ID."""

from __future__ import annotations

import json
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.poll import eventually
from tests.support.processes import run_service, wait_for_queue
from tests.support.stored import notification_events


def start_service(world, smtp, log: Path, fault: str | None) -> subprocess.Popen:
    env = {
        "DATABASE_URL": world.database_url,
        "AMQP_URI": world.amqp_uri,
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "NOTIFICATION_LEASE_SECONDS": "3",
        "SMTP_TIMEOUT": "1",
        "CARNET_FAULT": fault or "",
    }
    return run_service("notification", env, log)


def test_kill_between_send_and_record_sends_one_duplicate_with_the_same_message_id(
    world, smtp_server, tmp_path
):
    log = tmp_path / "notification.log"
    crashing = start_service(world, smtp_server, log, fault="crash-after-send")
    try:
        for handler in ("on_patient_registered", "on_appointment_event"):
            wait_for_queue(world.amqp_uri, f"carnet.q.notification.{handler}")
        world.book(world.patient(), world.practitioner(), datetime.now(UTC) + timedelta(days=2))
        assert crashing.wait(timeout=60) == 137  # died right after the SMTP server accepted
        assert len(smtp_server.messages()) == 1
        assert notification_events(world.database_url, "NotificationSent") == []
    finally:
        if crashing.poll() is None:
            crashing.kill()
    steady = start_service(world, smtp_server, log, fault=None)
    try:
        messages = smtp_server.wait_for_messages(2, timeout=30)  # after the 2 s lease expires
        eventually(lambda: notification_events(world.database_url, "NotificationSent"), 10)
    finally:
        steady.send_signal(signal.SIGTERM)
        steady.wait(timeout=20)
    assert len(messages) == 2
    assert messages[0]["Message-ID"] == messages[1]["Message-ID"]  # clients can deduplicate
    (sent,) = notification_events(world.database_url, "NotificationSent")
    assert sent["attempt"] == 2
    windows = [
        json.loads(line)["record_window_ms"]
        for line in log.read_text().splitlines()
        if '"notification.sent"' in line
    ]
    assert windows and max(windows) < 1000, windows
    print(f"duplicate window (send accepted -> outcome committed): {windows} ms")

"""A kill between the SMTP send and its record: the one documented duplicate, same Message-ID."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.cli.supervisor import NAMEKO_CLI_WARNINGS, ROOT
from tests.integration.notification.conftest import notification_events

NAMEKO = str(Path(sys.executable).parent / "nameko")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(world, smtp, log: Path, fault: str | None) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": world.database_url,
        "AMQP_URI": world.amqp_uri,
        "NOTIFICATION_HTTP_ADDRESS": f"127.0.0.1:{free_port()}",
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "NOTIFICATION_LEASE_SECONDS": "3",
        "SMTP_TIMEOUT": "1",
        "PYTHONWARNINGS": NAMEKO_CLI_WARNINGS,
    }
    env.pop("CARNET_FAULT", None)
    if fault:
        env["CARNET_FAULT"] = fault
    with open(log, "ab") as out:
        return subprocess.Popen(
            [
                NAMEKO,
                "run",
                "--config",
                "services/notification/config.yaml",
                "services.notification.service:NotificationService",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for_queue(amqp_uri: str, queue: str, timeout: float = 30.0) -> None:
    """The service declares its queues at start; events published before that miss it."""
    import pika

    deadline = time.monotonic() + timeout
    while True:
        try:
            with pika.BlockingConnection(pika.URLParameters(amqp_uri)) as conn:
                conn.channel().queue_declare(queue, passive=True)
            return
        except pika.exceptions.ChannelClosedByBroker:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


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
        deadline = time.monotonic() + 10
        while not notification_events(world.database_url, "NotificationSent") and (
            time.monotonic() < deadline
        ):
            time.sleep(0.1)
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

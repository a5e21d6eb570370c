"""`carnet up`/`make demo`: every service starts on the real PostgreSQL and RabbitMQ."""

import json
import os

import pytest
import requests

from services.booking.crypto import generate_master_key_b64
from services.cli.supervisor import Supervisor
from services.common.config import SERVICES
from tests.support.poll import eventually
from tests.support.ports import free_port


@pytest.fixture
def system(fresh_migrated_database_url, broker, tmp_path):
    env = {**os.environ, "DATABASE_URL": fresh_migrated_database_url, "AMQP_URI": broker}
    env.update({f"{svc.upper()}_HTTP_PORT": str(free_port()) for svc in SERVICES})
    supervisor = Supervisor(env=env, log_dir=tmp_path)
    supervisor.start()
    yield supervisor
    supervisor.stop()


def test_every_service_becomes_ready_and_logs_json_only(system):
    status = system.wait_ready(timeout=60)
    assert {name: s.get("status") for name, s in status.items()} == dict.fromkeys(SERVICES, "ready")
    for child in system.children:
        live = requests.get(f"{child.url}/health/live", timeout=5)
        assert live.status_code == 200 and live.json()["service"] == child.service
    system.stop()
    for child in system.children:
        assert child.process.returncode is not None
        lines = child.log_path.read_text().splitlines()
        assert lines, child.service
        for line in lines:
            record = json.loads(line)  # every line is one JSON object
            assert record["service.name"] == child.service


def test_carnet_up_runs_a_witness_that_countersigns_the_ledgers_heads(
    fresh_migrated_database_url, broker, tmp_path
):
    """The witness as `carnet up` starts it: its own database and key, the audit's public key
    only; it countersigns the heads the running audit signs, and verify --witness agrees."""
    from services.cli.child_env import OWNER
    from services.cli.demo.witness import check_witness
    from tests.support.infra import drop_database

    admin = "test-admin-token-witness-0123456789"
    env = {**os.environ, "DATABASE_URL": fresh_migrated_database_url, "AMQP_URI": broker,
           "CARNET_ADMIN_TOKEN": admin, "LEDGER_CHECKPOINT_SECONDS": "0.5",
           "WITNESS_INTERVAL_SECONDS": "0.5", "WITNESS_METRICS_PORT": str(free_port())}  # fmt: skip
    env.update({f"{svc.upper()}_HTTP_PORT": str(free_port()) for svc in SERVICES})
    supervisor = Supervisor(env=env, log_dir=tmp_path / "log", witness=True)
    supervisor.start()
    try:
        status = supervisor.wait_ready(timeout=60)
        assert status["witness"] == {"status": "ready"}, status
        held = set(supervisor.witness_env)  # never the audit's key, a service's secret, admin
        assert not {k for k, owner in OWNER.items() if owner != "witness"} & held
        assert not {"DATABASE_URL", "AMQP_URI"} & held
        identity = next(c.url for c in supervisor.children if c.service == "identity")
        body = {"name": "Witnessed", "vendor": "Test", "contact_email": "ops@example.org"}
        r = requests.post(f"{identity}/v1/connectors", json=body, timeout=10,
                          headers={"Authorization": f"Bearer {admin}"})  # fmt: skip
        assert r.status_code == 201, r.text
        summary = check_witness(supervisor.witness_env, timeout=60)
        assert "0 refused; verify --witness ok" in summary
    finally:
        supervisor.stop()
        drop_database(supervisor.witness_env["WITNESS_ADMIN_DATABASE_URL"])
    lines = (tmp_path / "log" / "witness.log").read_text().splitlines()
    assert any(json.loads(x).get("event") == "witness.head_witnessed" for x in lines), lines[-5:]


def test_a_service_without_its_database_retries_with_backoff_and_stops_on_sigterm(tmp_path, broker):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from services.cli.supervisor import NAMEKO_CLI_WARNINGS, ROOT

    log = tmp_path / "booking.log"
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/carnet_absent_database",
        "AMQP_URI": broker,
        "BOOKING_HTTP_ADDRESS": f"127.0.0.1:{free_port()}",
        "BOOKING_MASTER_KEY": generate_master_key_b64(),
        "PYTHONWARNINGS": NAMEKO_CLI_WARNINGS,
    }
    nameko = str(Path(sys.executable).parent / "nameko")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                nameko,
                "run",
                "--config",
                "services/booking/config.yaml",
                "services.booking.service:BookingService",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        eventually(
            lambda: log.read_text().count("dependency.unavailable") >= 3,
            20,
            "three retries logged",
            interval=0.2,
        )
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    waits = [json.loads(x) for x in log.read_text().splitlines() if "dependency.unavailable" in x]
    assert len(waits) >= 3
    delays = [w["retry_in_s"] for w in waits]
    assert delays == sorted(delays) and delays[1] > delays[0], "backoff grows"
    assert all(w["dependency"] == "postgresql" for w in waits)

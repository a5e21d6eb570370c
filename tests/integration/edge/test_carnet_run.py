"""`carnet run SERVICE` (and so `carnet up`, the demo and the chaos fleet, which start services
through it): a service that cannot start says why in one line `Error: …` on stderr and exits 2,
where `nameko run` printed a 29-116-line traceback and exited 1 (issue #23); one that can start
logs its JSON lines on stdout and stops on SIGTERM with 0."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from services.cli.main import cli
from services.cli.supervisor import Supervisor
from tests.support.infra import create_vhost, delete_vhost
from tests.support.poll import eventually
from tests.support.ports import free_port

CARNET = str(Path(sys.executable).parent / "carnet")
KEY = base64.b64encode(bytes(range(32))).decode()


def carnet_run(
    service: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`carnet run SERVICE` to its end, as an operator's shell would see it."""
    full = {**os.environ, f"{service.upper()}_HTTP_ADDRESS": f"127.0.0.1:{free_port()}", **env}
    return subprocess.run(
        [CARNET, "run", service], capture_output=True, text=True, env=full, timeout=timeout
    )


def ready(url: str) -> bool:
    """Whether the service answers ready (not yet listening counts as no)."""
    try:
        return requests.get(f"{url}/health/ready", timeout=2).ok
    except requests.RequestException:
        return False


def assert_one_error_line(done: subprocess.CompletedProcess[str], says: str) -> None:
    """Exit 2, exactly one line on stderr, no traceback anywhere."""
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: "), done.stderr
    assert says in done.stderr, done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("service", "env", "says"),
    [
        ("booking", {"BOOKING_MASTER_KEY": ""},
         "booking cannot start: BOOKING_MASTER_KEY is not set"),
        ("booking", {"BOOKING_MASTER_KEY": "not base64!"}, "booking cannot start: the master key"),
        ("booking", {"BOOKING_MASTER_KEY": KEY, "BOOKING_QUOTA_STAFF": "lots"},
         "booking cannot start: BOOKING_QUOTA_STAFF must be"),
        ("audit", {"AUDIT_SIGNING_KEY": "", "AUDIT_DEV_EPHEMERAL_KEY": ""},
         "audit cannot start: AUDIT_SIGNING_KEY is not set"),
        ("audit", {"AUDIT_SIGNING_KEY": "zz"}, "audit cannot start: AUDIT_SIGNING_KEY"),
    ],
)  # fmt: skip
def test_a_missing_or_unreadable_secret_is_one_line_and_exit_2(
    module_broker, migrated_database_url, service, env, says
):
    done = carnet_run(
        service, {"AMQP_URI": module_broker, "DATABASE_URL": migrated_database_url, **env}
    )
    assert_one_error_line(done, says)
    assert all(line.startswith("{") for line in done.stdout.splitlines())  # JSON lines only


def test_a_vhost_broker_setup_has_not_prepared_is_one_line_and_exit_2(migrated_database_url):
    bare = create_vhost()  # no exchanges: nameko's start printed a traceback per queue
    try:
        done = carnet_run(
            "booking",
            {"AMQP_URI": bare, "DATABASE_URL": migrated_database_url, "BOOKING_MASTER_KEY": KEY},
        )
    finally:
        delete_vhost(bare)
    assert_one_error_line(done, "has no exchange")
    assert "carnet.dlx" in done.stderr and "run `carnet broker setup` first" in done.stderr


def test_a_port_already_taken_is_one_line_and_exit_2(module_broker, migrated_database_url):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        done = carnet_run(
            "identity",
            {
                "AMQP_URI": module_broker,
                "DATABASE_URL": migrated_database_url,
                "IDENTITY_HTTP_ADDRESS": address,
            },
        )
    assert_one_error_line(done, "identity cannot start: OSError")


def test_a_service_that_starts_logs_json_on_stdout_and_stops_on_sigterm_with_0(
    module_broker, migrated_database_url, tmp_path
):
    port = free_port()
    env = {
        **os.environ,
        "AMQP_URI": module_broker,
        "DATABASE_URL": migrated_database_url,
        "BOOKING_MASTER_KEY": KEY,
        "BOOKING_HTTP_ADDRESS": f"127.0.0.1:{port}",
    }
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen([CARNET, "run", "booking"], env=env, stdout=stdout, stderr=stderr)
    try:
        eventually(lambda: ready(f"http://127.0.0.1:{port}"), 60, "booking ready")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert code == 0, err.read_text()
    assert err.read_text() == ""
    lines = out.read_text().splitlines()
    assert lines and all(line.startswith("{") for line in lines)
    assert any('"event": "stopping services: booking"' in line for line in lines)


def test_an_unknown_service_is_a_usage_error():
    result = CliRunner().invoke(cli, ["run", "nosuch"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert "run -h" in result.stderr


def test_carnet_up_says_why_a_service_exited(module_broker, migrated_database_url, tmp_path):
    env = {
        **os.environ,
        "AMQP_URI": module_broker,
        "DATABASE_URL": migrated_database_url,
        "BOOKING_QUOTA_STAFF": "lots",
        "BOOKING_HTTP_PORT": str(free_port()),
    }
    supervisor = Supervisor(env=env, log_dir=tmp_path / "log", services=("booking",))
    supervisor.start()
    try:
        status = supervisor.wait_ready(60)["booking"]
    finally:
        supervisor.stop()
    assert status["status"] == "exited" and status["code"] == 2, status
    assert str(status["error"]).startswith("Error: booking cannot start: BOOKING_QUOTA_STAFF")


def test_sigterm_while_waiting_for_an_unreachable_broker_stops_it(tmp_path):
    env = {
        **os.environ,
        "AMQP_URI": "amqp://guest:guest@127.0.0.1:1/",  # nothing listens: the service waits
        "BOOKING_MASTER_KEY": KEY,
        "BOOKING_HTTP_ADDRESS": f"127.0.0.1:{free_port()}",
    }
    with open(tmp_path / "out", "wb") as out:
        proc = subprocess.Popen([CARNET, "run", "booking"], env=env, stdout=out, stderr=out)
    try:
        eventually(lambda: "rabbitmq" in (tmp_path / "out").read_text(), 30, "a retry logged")
        proc.send_signal(signal.SIGTERM)  # `nameko run` ignored it as long as the broker was away
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()

"""Run a service as a real `carnet run` process, and wait until its queues exist."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from urllib.parse import quote

import pika
import requests

from services.cli.supervisor import NAMEKO_CLI_WARNINGS, ROOT, serve_command
from services.common.broker import vhost_of
from tests.support.infra import RABBIT_AUTH, RABBIT_MGMT
from tests.support.poll import eventually
from tests.support.ports import free_port

# Service processes a test is done with get SIGTERM, then SIGKILL after this: their graceful
# stop takes 2-3 s and is test_system_up.py's subject, not theirs (their logs are read by then).
TEARDOWN_GRACE_S = 0.5


def run_service(service: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start services/<service> as `carnet run` does in production, logging to `log`."""
    full_env = {
        **os.environ,
        f"{service.upper()}_HTTP_ADDRESS": f"127.0.0.1:{free_port()}",
        "PYTHONWARNINGS": NAMEKO_CLI_WARNINGS,
        **env,
    }
    with open(log, "ab") as out:
        return subprocess.Popen(
            serve_command(service),
            cwd=ROOT,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_processes(procs: list[subprocess.Popen[bytes]], grace: float = 30.0) -> None:
    """SIGTERM them all at once (each stops gracefully), then SIGKILL whoever outlives `grace`."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def listed_queues(amqp_uri: str, prefix: str) -> dict[str, int]:
    """Queues named `prefix`… on the URI's vhost and their consumers, as the management API
    lists them: the only view of an exclusive queue another connection has (a passive declare
    of one is refused, 405). Its consumer counts lag by a few seconds."""
    vhost = quote(vhost_of(amqp_uri), safe="")
    r = requests.get(f"{RABBIT_MGMT}/api/queues/{vhost}", auth=RABBIT_AUTH, timeout=10)
    r.raise_for_status()
    return {q["name"]: int(q.get("consumers") or 0) for q in r.json()
            if q["name"].startswith(prefix)}  # fmt: skip


def queue_exists(amqp_uri: str, queue: str) -> bool:
    """Whether `queue` is declared on the vhost (a passive declare fails when it is not)."""
    try:
        with pika.BlockingConnection(pika.URLParameters(amqp_uri)) as conn:
            conn.channel().queue_declare(queue, passive=True)
    except pika.exceptions.ChannelClosedByBroker:
        return False
    return True


def wait_for_queue(amqp_uri: str, queue: str, timeout: float = 60.0) -> None:
    """A service declares its queues at start; events published before that would miss it."""
    eventually(lambda: queue_exists(amqp_uri, queue), timeout, f"queue {queue}", interval=0.2)

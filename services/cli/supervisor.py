"""Run the services as child processes for local use; stop them all cleanly on Ctrl-C."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from services.cli import witness_child
from services.cli.child_env import child_env
from services.common.broker_users import service_amqp_uri
from services.common.config import DEFAULT_AMQP_URI, SERVICES, http_port, service_database_url

ROOT = Path(__file__).resolve().parents[2]
NAMEKO_CLI_WARNINGS = "ignore::Warning:nameko.cli.commands"


def _dev_key(key_file: Path) -> str:
    """32 random bytes, base64, kept in a 0600 file under var/ (git-ignored)."""
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(secrets.token_bytes(32)).decode())
    return key_file.read_text().strip()


def with_dev_signing_key(env: dict[str, str], key_file: Path) -> dict[str, str]:
    """Local runs only: give audit a signing key kept in var/ when none is configured.

    Production sets AUDIT_SIGNING_KEY from a secret store; this file never leaves the
    machine (var/ is git-ignored) and is created with mode 0600.
    """
    if env.get("AUDIT_SIGNING_KEY"):
        return env
    return {
        **env,
        "AUDIT_SIGNING_KEY": _dev_key(key_file),
        "AUDIT_SIGNING_KEY_ID": env.get("AUDIT_SIGNING_KEY_ID", "local-dev"),
    }


def with_dev_master_key(env: dict[str, str], key_file: Path) -> dict[str, str]:
    """Local runs only: booking's master key from var/ when none is configured (as above)."""
    if env.get("BOOKING_MASTER_KEY"):
        return env
    return {**env, "BOOKING_MASTER_KEY": _dev_key(key_file)}


def serve_command(service: str) -> list[str]:
    """What `carnet run SERVICE` executes: nameko's runner, configured by
    services/SERVICE/config.yaml, ending in one `Error: …` line if the service cannot start."""
    return [sys.executable, "-m", "services.common.nameko_ext.serve", service]


def _error_line(log_path: Path) -> dict[str, str]:
    """The `Error: …` line a child that could not start ended its log with, if any."""
    try:
        tail = log_path.read_bytes()[-4096:].decode(errors="replace").splitlines()
    except OSError:
        return {}
    said = [line for line in tail if line.startswith("Error: ")]
    return {"error": said[-1]} if said else {}


@dataclass
class Child:
    """One running service: its process and where it answers."""

    service: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    ready_path: str = "/health/ready"  # the witness has no HTTP API: its /metrics says it runs

    @property
    def url(self) -> str:
        """Base URL of the service's HTTP interface."""
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Supervisor:
    """Starts `carnet run` per service, waits for /health/ready, stops them together."""

    env: dict[str, str]
    log_dir: Path
    services: tuple[str, ...] = SERVICES
    children: list[Child] = field(default_factory=list)
    witness: bool = False  # also run `carnet witness run` (carnet up, the demo)
    witness_env: dict[str, str] = field(default_factory=dict)  # what it was started with

    def _amqp_uri(self, service: str) -> str:
        """Its own broker user when `carnet broker setup` made one (a password or URI is set),
        else the one AMQP_URI every service then shares."""
        admin = self.env.get("AMQP_URI", DEFAULT_AMQP_URI)
        prefix = service.upper()
        if self.env.get(f"{prefix}_AMQP_PASSWORD") or self.env.get(f"{prefix}_AMQP_URI"):
            return service_amqp_uri(admin, service, self.env)
        return admin

    def start(self) -> None:
        """Spawn every service; each writes its JSON log lines to its own file."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = with_dev_signing_key(self.env, self.log_dir.parent / "dev-audit-signing.key")
        self.env = with_dev_master_key(self.env, self.log_dir.parent / "dev-booking-master.key")
        for service in self.services:
            port = http_port(service, self.env)
            env = {
                **child_env(self.env, service),
                # Each service as its own role (DESIGN principle 9), never the admin's.
                "DATABASE_URL": service_database_url(self.env["DATABASE_URL"], service, self.env),
                "AMQP_URI": self._amqp_uri(service),
                f"{service.upper()}_HTTP_ADDRESS": f"0.0.0.0:{port}",
                # nameko's CLI imports eventlet, whose deprecation banner is not a JSON line.
                "PYTHONWARNINGS": NAMEKO_CLI_WARNINGS,
            }
            cmd = serve_command(service)  # `carnet run`: one line when it cannot start
            self._spawn(service, port, cmd, env)
        if self.witness:
            env = witness_child.witness_env(
                self.env, _dev_key(witness_child.key_file(self.log_dir))
            )
            port = witness_child.metrics_port(env)
            self._spawn("witness", port, witness_child.witness_command(env), env, "/metrics")
            self.witness_env = env

    def _spawn(
        self,
        name: str,
        port: int,
        cmd: list[str],
        env: dict[str, str],
        ready: str = "/health/ready",
    ) -> None:
        """One child in its own session, its output (JSON lines) in `<name>.log`."""
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                cmd,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.children.append(Child(name, port, proc, log_path, ready))

    def wait_ready(self, timeout: float = 60.0) -> dict[str, dict[str, object]]:
        """Poll each /health/ready until 200 or timeout; return each service's last answer."""
        deadline = time.monotonic() + timeout
        status: dict[str, dict[str, object]] = {}
        pending = {c.service: c for c in self.children}
        while pending and time.monotonic() < deadline:
            for name, child in list(pending.items()):
                if child.process.poll() is not None:
                    status[name] = {
                        "status": "exited",
                        "code": child.process.returncode,
                        **_error_line(child.log_path),
                    }
                    del pending[name]
                    continue
                try:
                    r = requests.get(f"{child.url}{child.ready_path}", timeout=2)
                    status[name] = (
                        r.json()
                        if child.ready_path.startswith("/health")
                        else {"status": "ready" if r.ok else "starting"}
                    )
                    if r.status_code == 200:
                        del pending[name]
                except requests.RequestException:
                    status[name] = {"status": "starting"}
            time.sleep(0.3)
        return status

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM every child (nameko finishes in-flight workers), SIGKILL what lingers."""
        for child in self.children:
            if child.process.poll() is None:
                os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self.children:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()

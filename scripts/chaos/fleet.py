"""The four services as `nameko run` processes that the runner can SIGKILL and restart one by one.

Each service gets a `Supervisor` of its own (services/cli/supervisor.py, what `carnet up` uses),
so killing one and starting it again touches nothing else; every restart appends to the same
log file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from services.cli.supervisor import Supervisor
from services.common.config import SERVICES


class Fleet:
    """identity, booking, notification and audit on fixed ports for the whole run."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.supervisors = {
            svc: Supervisor(env=dict(env), log_dir=log_dir, services=(svc,)) for svc in SERVICES
        }
        self.unplanned: list[str] = []  # services that exited without being killed, and when

    def url(self, service: str) -> str:
        """Where a service's HTTP interface answers."""
        port = self.env[f"{service.upper()}_HTTP_PORT"]
        return f"http://127.0.0.1:{port}"

    def start(self, service: str) -> None:
        """Spawn one service (a restart forgets the dead child)."""
        supervisor = self.supervisors[service]
        supervisor.children.clear()
        supervisor.start()

    def start_all(self) -> None:
        """Spawn every service."""
        for service in SERVICES:
            self.start(service)

    def kill(self, service: str) -> None:
        """SIGKILL the service's whole process group: no shutdown code runs."""
        for child in self.supervisors[service].children:
            if child.process.poll() is None:
                os.killpg(child.process.pid, signal.SIGKILL)
            try:
                child.process.wait(30)
            except subprocess.TimeoutExpired as exc:
                raise RuntimeError(f"{service} survived SIGKILL") from exc

    def ready(self, service: str) -> bool:
        """GET /health/ready answers 200 (database, broker and relay loop all fine)."""
        try:
            return requests.get(f"{self.url(service)}/health/ready", timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def exited(self) -> list[str]:
        """Services whose process ended without the runner killing it."""
        return [
            svc
            for svc, sup in self.supervisors.items()
            if any(c.process.poll() is not None for c in sup.children)
        ]

    def revive(self, when: str) -> None:
        """Start again a service that exited on its own: a finding, and the run goes on."""
        for service in self.exited():
            self.unplanned.append(f"{service} ({when})")
            self.start(service)

    def wait_ready(self, timeout: float, when: str = "") -> list[str]:
        """Wait until every service is ready; the ones still not ready when time ran out."""
        deadline = time.monotonic() + timeout
        pending = list(SERVICES)
        while pending and time.monotonic() < deadline:
            self.revive(when)
            pending = [svc for svc in pending if not self.ready(svc)]
            if pending:
                time.sleep(0.5)
        return pending

    def stop_all(self) -> None:
        """SIGTERM every service (nameko finishes in-flight work), SIGKILL what lingers."""
        for supervisor in self.supervisors.values():  # all at once, then wait for each
            for child in supervisor.children:
                if child.process.poll() is None:
                    os.killpg(child.process.pid, signal.SIGTERM)
        for supervisor in self.supervisors.values():
            supervisor.stop(grace=20.0)

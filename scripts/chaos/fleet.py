"""The four services as `carnet run` processes that the runner can SIGKILL and restart one by one.

Each replica of each service gets a `Supervisor` of its own (services/cli/supervisor.py, what
`carnet up` uses), so killing one and starting it again touches nothing else; every restart
appends to the same log file. With several replicas (`make chaos-cluster`), replica `i` of a
service answers on its own port, is named `<service>-<i>` (`CARNET_INSTANCE_ID`: its own
broadcast queue, its connections' application_name) and logs under `log/replica-<i>/`.
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
from tests.support.ports import free_port


class Fleet:
    """identity, booking, notification and audit, `replicas` of each, on fixed ports."""

    def __init__(self, env: dict[str, str], log_dir: Path, replicas: int = 1) -> None:
        self.env, self.replicas = env, replicas
        self.ports: dict[tuple[str, int], int] = {}
        self.supervisors: dict[tuple[str, int], Supervisor] = {}
        for svc in SERVICES:
            for i in range(replicas):
                key = f"{svc.upper()}_HTTP_PORT"
                port = int(env[key]) if i == 0 else free_port()
                self.ports[(svc, i)] = port
                own = {**env, key: str(port)}
                if replicas > 1:
                    own["CARNET_INSTANCE_ID"] = f"{svc}-{i}"
                logs = log_dir if replicas == 1 else log_dir / f"replica-{i}"
                self.supervisors[(svc, i)] = Supervisor(env=own, log_dir=logs, services=(svc,))
        self.unplanned: list[str] = []  # replicas that exited without being killed, and when

    def name(self, service: str, replica: int) -> str:
        """How reports name a replica: the service alone when it has one."""
        return service if self.replicas == 1 else f"{service}-{replica}"

    def url(self, service: str, replica: int = 0) -> str:
        """Where one replica's HTTP interface answers."""
        return f"http://127.0.0.1:{self.ports[(service, replica)]}"

    def logs(self, service: str) -> list[Path]:
        """Every replica's log file."""
        return [self.supervisors[(service, i)].log_dir / f"{service}.log"
                for i in range(self.replicas)]  # fmt: skip

    def urls(self, service: str) -> list[str]:
        """Every replica's base URL."""
        return [self.url(service, i) for i in range(self.replicas)]

    def _which(self, replica: int | None) -> range:
        return range(self.replicas) if replica is None else range(replica, replica + 1)

    def start(self, service: str, replica: int | None = None) -> None:
        """Spawn one replica, or all (a restart forgets the dead child)."""
        for i in self._which(replica):
            supervisor = self.supervisors[(service, i)]
            supervisor.children.clear()
            supervisor.start()

    def start_all(self) -> None:
        """Spawn every replica of every service."""
        for service in SERVICES:
            self.start(service)

    def kill(self, service: str, replica: int | None = None) -> None:
        """SIGKILL one replica's (or every replica's) process group: no shutdown code runs."""
        for i in self._which(replica):
            for child in self.supervisors[(service, i)].children:
                if child.process.poll() is None:
                    os.killpg(child.process.pid, signal.SIGKILL)
                try:
                    child.process.wait(30)
                except subprocess.TimeoutExpired as exc:
                    raise RuntimeError(f"{self.name(service, i)} survived SIGKILL") from exc

    def ready(self, service: str) -> bool:
        """GET /health/ready answers 200 on every replica (database, broker, relay loop)."""
        for url in self.urls(service):
            try:
                if requests.get(f"{url}/health/ready", timeout=3).status_code != 200:
                    return False
            except requests.RequestException:
                return False
        return True

    def exited(self) -> list[tuple[str, int]]:
        """Replicas whose process ended without the runner killing it."""
        return [
            key
            for key, sup in self.supervisors.items()
            if any(c.process.poll() is not None for c in sup.children)
        ]

    def revive(self, when: str) -> None:
        """Start again a replica that exited on its own: a finding, and the run goes on."""
        for service, i in self.exited():
            self.unplanned.append(f"{self.name(service, i)} ({when})")
            self.start(service, i)

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
        """SIGTERM every replica (nameko finishes in-flight work), SIGKILL what lingers."""
        for supervisor in self.supervisors.values():  # all at once, then wait for each
            for child in supervisor.children:
                if child.process.poll() is None:
                    os.killpg(child.process.pid, signal.SIGTERM)
        for supervisor in self.supervisors.values():
            supervisor.stop(grace=20.0)

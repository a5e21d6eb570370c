"""The four services as `carnet up` starts them, on a benchmark's own database and vhost."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import requests
from prometheus_client.parser import text_string_to_metric_families

from scripts.bench._env import BenchEnv
from services.cli.demo.run import mail_server
from services.cli.options import management_auth, management_url
from services.cli.supervisor import Supervisor
from services.common.broker import DLQ_PREFIX, apply_policies, declare_topology
from services.common.config import AUDITOR, SERVICES, service_database_url
from tests.support.ports import free_port


def connect(database_url: str, patience: float = 60.0) -> psycopg.Connection:
    """A connection, retried while the server refuses (a shared server may be full)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return psycopg.connect(database_url, autocommit=True)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


@dataclass
class System:
    """The running services: where they answer, their pids, this run's admin token."""

    supervisor: Supervisor
    env: BenchEnv
    admin_token: str

    @property
    def urls(self) -> dict[str, str]:
        """Each service's base URL."""
        return {c.service: c.url for c in self.supervisor.children}

    @property
    def pids(self) -> dict[str, int]:
        """Each service's process (`nameko run` serves in that process)."""
        return {c.service: c.process.pid for c in self.supervisor.children}

    def alive(self) -> bool:
        """True while every service still runs."""
        return all(c.process.poll() is None for c in self.supervisor.children)


@contextmanager
def running_system(env: BenchEnv, work: Path, timeout: float = 120.0) -> Iterator[System]:
    """Policies and dead-letter topology as `carnet up` sets them, a mail sink, the services.

    Detection runs with the demo's thresholds (services/cli/demo/run.py), so a scraper is
    caught within a minute while the benchmark's reading connector stays under them.
    """
    admin = secrets.token_urlsafe(32)
    apply_policies(env.amqp_uri, management_url(), management_auth())
    declare_topology(env.amqp_uri)
    with mail_server(work / "mail") as smtp_port:
        environ = {
            **os.environ,
            **{f"{svc.upper()}_HTTP_PORT": str(free_port()) for svc in SERVICES},
            "DATABASE_URL": env.database_url,
            "AMQP_URI": env.amqp_uri,
            "AUDIT_VERIFY_DATABASE_URL": service_database_url(env.database_url, AUDITOR, {}),
            "PSYCOPG_WAIT_FUNC": "wait_select",
            "CARNET_ADMIN_TOKEN": admin,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
        }
        supervisor = Supervisor(env=environ, log_dir=work / "log")  # keys go in work/
        supervisor.start()
        try:
            status = supervisor.wait_ready(timeout)
            if any(s.get("status") != "ready" for s in status.values()):
                raise RuntimeError(f"services not ready: {json.dumps(status)[:600]}")
            yield System(supervisor, env, admin)
        finally:
            supervisor.stop()


def scrape_metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One service's /metrics as {(sample name, labels): value}."""
    text = requests.get(f"{url}/metrics", timeout=5).text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@dataclass
class Lags:
    """One sample of the pipeline's lag, from the services' /metrics and the broker."""

    at: float
    relay_events: float  # max over services of carnet_relay_lag_events
    relay_seconds: float  # max over services of carnet_relay_lag_seconds
    consumer_seconds: float  # max over queues of carnet_consumer_lag_seconds
    queued: int  # messages ready + unacked in the vhost's consumer queues (broker)


def sample_lags(system: System) -> Lags:
    """Relay lag (events, seconds), consumer lag (seconds, waiting messages) right now."""
    relay_events = relay_seconds = consumer_seconds = 0.0
    for url in system.urls.values():
        for (name, _labels), value in scrape_metrics(url).items():
            if name == "carnet_relay_lag_events":
                relay_events = max(relay_events, value)
            elif name == "carnet_relay_lag_seconds":
                relay_seconds = max(relay_seconds, value)
            elif name == "carnet_consumer_lag_seconds":
                consumer_seconds = max(consumer_seconds, value)
    return Lags(time.time(), relay_events, relay_seconds, consumer_seconds, queued(system.env))


def queued(env: BenchEnv) -> int:
    """Messages waiting (ready + unacked) in the vhost's queues, dead-letter queues aside."""
    vhost = quote(env.name, safe="")
    r = requests.get(
        f"{management_url()}/api/queues/{vhost}?columns=name,messages",
        auth=management_auth(),
        timeout=10,
    )
    r.raise_for_status()
    return sum(
        int(q.get("messages") or 0) for q in r.json() if not q["name"].startswith(DLQ_PREFIX)
    )

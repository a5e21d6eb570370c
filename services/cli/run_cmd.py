"""`carnet run`, `carnet up` and `carnet demo`: one service, or the whole system on this
machine's PostgreSQL and RabbitMQ."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import click

from services.cli.options import management_auth, management_url
from services.cli.supervisor import Supervisor, serve_command
from services.common.broker import apply_policies, declare_topology, retire_queues, vhost_of
from services.common.broker_users import ensure_service_users, passwords_from_env
from services.common.config import AUDITOR, SERVICES, Settings, service_database_url


def _prepare(log_dir: Path, extra_env: dict[str, str] | None = None) -> Supervisor:
    """Migrate the database, then start every service."""
    from services.common.eventstore.migrate import ensure_database, migrate

    settings = Settings.from_env()
    ensure_database(settings.database_url)
    migrate(settings.database_url)
    apply_policies(settings.amqp_uri, management_url(), management_auth())
    declare_topology(settings.amqp_uri)
    retire_queues(settings.amqp_uri)  # nothing of an earlier release runs here any more
    passwords = passwords_from_env()
    if passwords:  # each service its own broker user, as compose runs them; else the admin's
        ensure_service_users(
            management_url(), management_auth(), vhost_of(settings.amqp_uri), passwords
        )
    env = {
        **os.environ,
        **(extra_env or {}),
        "DATABASE_URL": settings.database_url,
        "AMQP_URI": settings.amqp_uri,
    }
    # audit verify cross-checks every service's store, as the read-only auditor role.
    env.setdefault(
        "AUDIT_VERIFY_DATABASE_URL", service_database_url(settings.database_url, AUDITOR, env)
    )
    env.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")
    supervisor = Supervisor(env=env, log_dir=log_dir, witness=True)
    supervisor.start()
    return supervisor


def _report(supervisor: Supervisor, status: dict[str, dict[str, object]]) -> bool:
    """Print one line per service; True when all are ready."""
    all_ready = True
    for child in supervisor.children:
        answer = status.get(child.service, {"status": "no answer"})
        ready = answer.get("status") == "ready"
        all_ready &= ready
        mark = click.style("up  ", fg="green") if ready else click.style("DOWN", fg="red")
        click.echo(
            f"  {mark} {child.service:<13} {child.url:<24} pid {child.process.pid:<7} "
            f"log {child.log_path}  {json.dumps(answer.get('checks', answer))}"
        )
    return all_ready


def _wait_for_interrupt(supervisor: Supervisor) -> None:
    """Block until Ctrl-C, SIGTERM, or a child exiting on its own."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(1.0):
        if any(c.process.poll() is not None for c in supervisor.children):
            click.echo("a service exited; stopping the others", err=True)
            return


@click.command("run")
@click.argument("service", type=click.Choice(SERVICES), metavar="SERVICE")
def run_service(service: str) -> None:
    """Run one service in the foreground until SIGTERM or Ctrl-C, configured by the environment
    (docs/deploy.md): JSON log lines on stdout; a service that cannot start (a missing or
    unreadable key, a port taken, a broker without Carnet's exchanges) prints one line `Error: …`
    on stderr and exits 2. An unreachable database or broker is waited for, not an error."""
    # nameko runs on eventlet, which must patch the standard library before anything imports
    # it: a fresh interpreter in this process's place (same pid, so signals reach it).
    argv = serve_command(service)
    os.execv(argv[0], argv)  # noqa: S606 - fixed argv, no shell


@click.command()
@click.option(
    "--log-dir", type=click.Path(path_type=Path), default=Path("var/log"), show_default=True
)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for readiness.")
def up(log_dir: Path, timeout: float) -> None:
    """Run all four services until Ctrl-C, printing where each listens."""
    supervisor = _prepare(log_dir)
    try:
        ready = _report(supervisor, supervisor.wait_ready(timeout))
        click.echo(
            "all services ready; Ctrl-C stops them" if ready else "some services are not ready"
        )
        _wait_for_interrupt(supervisor)
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("stopping services …")
        supervisor.stop()


@click.command()
@click.option(
    "--log-dir", type=click.Path(path_type=Path), default=Path("var/log"), show_default=True
)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for readiness.")
@click.option("--practitioners", default=20, show_default=True, help="Practitioners to seed.")
@click.option("--patients", default=1000, show_default=True, help="Patients to seed.")
@click.option(
    "--appointments",
    default=3000,
    show_default=True,
    help="Appointments to book (20000 takes ~15 min on 2 cores: audit ledgers every event).",
)
@click.option("--granted", default=4, show_default=True, help="Agendas the scraper was granted.")
@click.option("--attack-seconds", default=120.0, show_default=True, help="Longest the attack runs.")
def demo(
    log_dir: Path,
    timeout: float,
    practitioners: int,
    patients: int,
    appointments: int,
    granted: int,
    attack_seconds: float,
) -> None:
    """Play the seed incident end to end: seed, scrape, detect, contain, report, notify."""
    from contextlib import contextmanager

    from services.cli.demo.client import DemoError
    from services.cli.demo.run import run_demo
    from services.cli.demo.scenario import Attack
    from services.cli.demo.seed import Sizes

    @contextmanager
    def start(env: dict[str, str]):  # type: ignore[no-untyped-def]
        supervisor = _prepare(log_dir, env)
        try:
            click.echo("Carnet demo: starting identity, booking, notification, audit …")
            if not _report(supervisor, supervisor.wait_ready(timeout)):
                raise click.ClickException("not every service became ready; see the logs above")
            yield supervisor
        finally:
            supervisor.stop()

    def _terminate(*_: object) -> None:
        raise KeyboardInterrupt  # unwinds through start(): every service is stopped

    signal.signal(signal.SIGTERM, _terminate)
    sizes = Sizes(practitioners=practitioners, patients=patients, appointments=appointments)
    attack = Attack(granted_practitioners=granted, max_seconds=attack_seconds)
    try:
        run_demo(start, sizes, attack, log_dir.parent)
    except DemoError as error:
        raise click.ClickException(f"demo failed: {error}") from None
    except KeyboardInterrupt:
        raise click.ClickException("demo interrupted; services stopped") from None

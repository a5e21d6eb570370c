"""`carnet up` and `carnet demo`: the whole system on this machine's PostgreSQL and RabbitMQ."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import click

from services.cli.options import management_auth, management_url
from services.cli.supervisor import Supervisor
from services.common.broker import apply_policies, declare_dead_letter_topology
from services.common.config import Settings


def _prepare(log_dir: Path) -> Supervisor:
    """Migrate the database, then start every service."""
    from services.common.eventstore.migrate import ensure_database, migrate

    settings = Settings.from_env()
    ensure_database(settings.database_url)
    migrate(settings.database_url)
    apply_policies(settings.amqp_uri, management_url(), management_auth())
    declare_dead_letter_topology(settings.amqp_uri)
    env = {**os.environ, "DATABASE_URL": settings.database_url, "AMQP_URI": settings.amqp_uri}
    env.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")
    supervisor = Supervisor(env=env, log_dir=log_dir)
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
@click.option("--keep-running", is_flag=True, help="Leave the services up after the demo.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for readiness.")
def demo(log_dir: Path, keep_running: bool, timeout: float) -> None:
    """Start the system and show it working (grows into the incident demo, issue #8)."""
    supervisor = _prepare(log_dir)
    try:
        click.echo("Carnet demo: starting identity, booking, notification, audit …")
        ready = _report(supervisor, supervisor.wait_ready(timeout))
        if not ready:
            raise click.ClickException("not every service became ready; see the logs above")
        click.echo("every service is up and answers /health/ready (database and broker reachable)")
        if keep_running:
            click.echo("services left running; Ctrl-C stops them")
            _wait_for_interrupt(supervisor)
    except KeyboardInterrupt:
        pass
    finally:
        supervisor.stop()

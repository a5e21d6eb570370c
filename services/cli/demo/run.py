"""`carnet demo`: start a mail server and the four services, play the incident, print a summary."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from services.cli.demo.client import DemoError, Platform
from services.cli.demo.scenario import Attack, Outcome, play
from services.cli.demo.seed import Sizes
from services.cli.demo.witness import check_witness

MAILSINK = Path(__file__).with_name("mailsink_main.py")


@contextmanager
def mail_server(state: Path) -> Iterator[int]:
    """A local SMTP server (aiosmtpd) storing every accepted message under state/messages."""
    state.mkdir(parents=True, exist_ok=True)
    (state / "port").unlink(missing_ok=True)
    # Each run starts with an empty mailbox: the server numbers messages from 1 again.
    shutil.rmtree(state / "messages", ignore_errors=True)
    proc = subprocess.Popen([sys.executable, str(MAILSINK), str(state), "127.0.0.1"])  # noqa: S603 (our own script)
    try:
        deadline = time.monotonic() + 20
        while not (state / "port").exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise DemoError("the local mail server did not start")
            time.sleep(0.1)
        yield int((state / "port").read_text())
    finally:
        proc.terminate()
        proc.wait(10)


def demo_env(admin_token: str, smtp_port: int) -> dict[str, str]:
    """The environment the services get for this run (secrets made fresh per run)."""
    return {
        "CARNET_ADMIN_TOKEN": admin_token,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "LEDGER_CHECKPOINT_SECONDS": "30",
    }


def summary(outcome: Outcome, mail_dir: Path) -> list[str]:
    """The lines printed at the end: every figure from the system, checked by the demo."""
    seconds = outcome.first_read_to_suspension_s
    return [
        "",
        click.style("Incident contained and explained", bold=True),
        f"  incident                      {outcome.incident_id}",
        f"  appointments exposed          {outcome.appointments_exposed}",
        f"  patients exposed              {outcome.patients_exposed}",
        f"  field classes returned        {', '.join(outcome.field_classes) or 'none'}",
        f"  medical fields returned       {outcome.medical_returned}",
        "  first malicious read → suspension  "
        + (f"{seconds:.2f} s" if seconds is not None else "n/a"),
        f"  reads refused after suspension {outcome.refused_after_suspension}",
        f"  honest connectors refused     {outcome.honest_refused}",
        f"  Art. 34 notices               {outcome.notices_requested} requested, "
        f"{outcome.mails_received} accepted by the mail server",
        f"  ledger verify                 {'ok' if outcome.ledger_verified else 'FAILED'}",
        f"  witness                       {outcome.witness or 'not run'}",
        f"  report                        {', '.join(outcome.report_paths)}",
        f"  mails                         {mail_dir}",
        "  (the demo counted the same appointments and patients from the scraper's side)",
    ]


def run_demo(start: object, sizes: Sizes, attack: Attack, var_dir: Path) -> Outcome:
    """Start everything with `start(env)` (a context manager yielding when ready), then play."""
    admin = secrets.token_urlsafe(32)
    mail_state = var_dir / "demo" / "mail"
    with mail_server(mail_state) as smtp_port:
        env = demo_env(admin, smtp_port)
        with start(env) as supervisor:  # type: ignore[operator]
            urls = {child.service: child.url for child in supervisor.children}
            platform = Platform(
                identity=urls["identity"],
                booking=urls["booking"],
                audit=urls["audit"],
                admin_token=admin,
            )
            outcome = play(
                platform,
                sizes,
                attack,
                var_dir / "demo",
                mail_state / "messages",
                lambda line: click.echo(line),
            )
            if supervisor.witness_env:
                click.echo("waiting for the witness to countersign the newest signed head")
                outcome.witness = check_witness(supervisor.witness_env)
    for line in summary(outcome, mail_state / "messages"):
        click.echo(line)
    return outcome

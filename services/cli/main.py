"""`carnet`: the operator's single entry point; every subcommand has --help."""

from __future__ import annotations

import click

from services.cli.audit_cmd import audit
from services.cli.audit_proofs_cmd import prove  # noqa: F401 (registers on audit)
from services.cli.broker_cmd import broker
from services.cli.contracts_cmd import contracts
from services.cli.db_cmd import db
from services.cli.dlq_cmd import dlq
from services.cli.errors import EXIT_CODES, CarnetGroup
from services.cli.investigate_cmd import investigate  # noqa: F401 (registers on audit)
from services.cli.logs_cmd import logs
from services.cli.rebuild_cmd import rebuild  # noqa: F401 (registers on replay)
from services.cli.relay_cmd import relay
from services.cli.replay_cmd import replay
from services.cli.replay_publish_cmd import publish_cmd  # noqa: F401 (registers on replay)
from services.cli.run_cmd import demo, run_service, up
from services.cli.secrets_cmd import secrets_group
from services.cli.witness_cmd import witness


@click.group(
    cls=CarnetGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES,
)
@click.version_option(package_name="carnet")
def cli() -> None:
    """Carnet: event-sourced backbone for medical appointments."""


cli.add_command(audit)
cli.add_command(broker)
cli.add_command(contracts)
cli.add_command(db)
cli.add_command(dlq)
cli.add_command(logs)
cli.add_command(relay)
cli.add_command(replay)
cli.add_command(run_service)
cli.add_command(secrets_group, "secrets")
cli.add_command(up)
cli.add_command(demo)
cli.add_command(witness)


if __name__ == "__main__":  # python -m services.cli.main, as from a checkout without install
    cli()

"""`carnet dlq`: on-call tools for dead-letter queues (issue #9; docs/adr/0004-dead-letters.md)."""

from __future__ import annotations

from pathlib import Path

import click

from services.cli.errors import CarnetGroup
from services.cli.options import management_options
from services.common.config import Settings
from services.ops.dead_letters import (
    DeadLetter,
    DeadLetterError,
    drop,
    list_dead_letter_queues,
    peek,
    requeue,
)

DEFAULT_TRAIL = Path("var") / "dlq-drops.jsonl"

amqp_option = click.option(
    "--amqp-uri", default=None, help="Broker and vhost to inspect; defaults to $AMQP_URI."
)


def _uri(amqp_uri: str | None) -> str:
    return amqp_uri or Settings.from_env().amqp_uri


def _table(rows: list[list[str]], header: list[str]) -> None:
    """Plain aligned columns: readable in a terminal and greppable in an incident log."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _fail(exc: DeadLetterError) -> None:
    raise click.ClickException(str(exc)) from exc


@click.group(cls=CarnetGroup)
def dlq() -> None:
    """Dead-letter queues: see what was parked and why, then requeue or drop it."""


@dlq.command("list")
@amqp_option
@management_options
def list_cmd(amqp_uri: str | None, management_url: str, user: str, password: str) -> None:
    """Every carnet.dlq.* queue of the vhost with how many messages wait in it."""
    queues = list_dead_letter_queues(_uri(amqp_uri), management_url, (user, password))
    _table([[name, str(count)] for name, count in queues], ["QUEUE", "MESSAGES"])


@dlq.command("show")
@click.argument("queue")
@amqp_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--show-body",
    is_flag=True,
    help="Also print each body. Bodies may hold personal data: only when needed to repair.",
)
def show(queue: str, amqp_uri: str | None, limit: int, show_body: bool) -> None:
    """Print the first messages of QUEUE (metadata only), leaving them in the queue."""
    try:
        messages = peek(_uri(amqp_uri), queue, limit)
    except DeadLetterError as exc:
        _fail(exc)
        return
    header = ["MESSAGE_ID", "TYPE", "REASON", "DETAIL", "ROUTING_KEY", "DEAD_LETTERED_AT", "BYTES"]
    _table([_row(d) for d, _body in messages], header)
    if show_body:
        for d, body in messages:
            click.echo(f"--- {d.message_id}")
            click.echo(body.decode("utf-8", errors="backslashreplace"))


def _row(d: DeadLetter) -> list[str]:
    fields = (d.message_id, d.type, d.reason, d.detail, d.original_routing_key, d.dead_lettered_at)
    return [f or "-" for f in fields] + [str(d.body_size)]


@dlq.command("requeue")
@click.argument("queue")
@amqp_option
@click.option("--all", "all_", is_flag=True, help="Every message now in QUEUE.")
@click.option("--id", "message_id", default=None, help="Only this message (every copy of it).")
def requeue_cmd(queue: str, amqp_uri: str | None, all_: bool, message_id: str | None) -> None:
    """Republish to the original exchange and routing key, then ack the DLQ copy.

    Republishing goes through the producer's exchange (the consumer refuses events that did
    not), so other consumers of that key see it again; their idempotent inboxes ignore it.
    The x-carnet-* and x-death headers are stripped; each DLQ copy is acked only after the
    broker confirmed the republish. Fix the cause first, or it comes back to the DLQ.
    """
    if all_ == (message_id is not None):
        raise click.UsageError("give exactly one of --all or --id")
    try:
        done = requeue(_uri(amqp_uri), queue, message_id)
    except DeadLetterError as exc:
        _fail(exc)
        return
    for d in done:
        click.echo(f"requeued {d.message_id} -> {d.original_exchange} {d.original_routing_key}")
    click.echo(f"{len(done)} message(s) requeued from {queue}")


@dlq.command("drop")
@click.argument("queue")
@amqp_option
@click.option("--id", "message_id", required=True, help="The message to remove.")
@click.option("--reason", required=True, help="Why it is safe to lose (recorded).")
@click.option(
    "--trail",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_TRAIL,
    show_default=True,
    help="Audit trail file; one JSON line is appended per drop.",
)
def drop_cmd(queue: str, amqp_uri: str | None, message_id: str, reason: str, trail: Path) -> None:
    """Remove one message from QUEUE for good, and record the drop.

    There is no ops event store yet, so the drop is recorded as a `dlq.dropped` warning log
    line (queue, message_id, reason) and as a JSON line appended to --trail. The body is
    never recorded.
    """
    try:
        dropped = drop(_uri(amqp_uri), queue, message_id, reason, trail)
    except DeadLetterError as exc:
        _fail(exc)
        return
    click.echo(f"dropped {message_id} from {queue} ({len(dropped)} copies); recorded in {trail}")

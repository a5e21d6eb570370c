"""`carnet replay publish` and `carnet replay import`: re-deliver history, or load it offline.

Registered on the `replay` group of replay_cmd.py (imported by services/cli/main.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from services.cli.replay_cmd import replay
from services.common.config import SERVICES, Settings

if TYPE_CHECKING:
    from services.ops.replay_publish import Summary

PUBLISH_HELP = """Re-deliver a slice of SERVICE's event history to ONE consumer queue.

\b
Each event is sent exactly as the relay sends it (same body: the stored JSON
text; same properties and headers; persistent), but through the default
exchange with routing key QUEUE, so only that queue receives it: no other
consumer of SERVICE's exchange sees the replay. Publisher confirms are
awaited batch by batch.

\b
Order: the store's gap-free global-log order, (transaction id, position),
the order the relay published in. --from-position/--to-position select by
the `position` column (both inclusive); positions are not strictly
increasing in that order. The slice is taken among the events readable when
the command starts; later appends are not included.

\b
The queue must exist (checked with a passive declare): a mistyped name is
refused, never created. A consumer that is idempotent (Carnet's inbox,
keyed by message_id = event id) ignores events it has already handled, so
repeating a replay, or replaying more than needed, is harmless.
Carnet's consumers accept an event on the default exchange as a replay
(services/common/consumed.py); only operators may publish there.

\b
--dry-run checks the queue, then prints what would be sent (count,
first/last position, event types) and sends nothing. Progress (rate, ETA)
goes to stderr every second.
"""

IMPORT_HELP = """Load FILE (written by `carnet replay export`) into a scratch database.

\b
Each event is appended to its stream with its original event id at its
exported stream version (expected version = stream_version - 1), in the
file's order, so the scratch store holds the same streams (ids, versions,
types, payloads) for an offline what-if replay. Payloads are stored as
exported: upcast to the latest contract version. Positions, transaction ids
and recorded_at are the scratch database's own; the source position and
recorded_at are kept in each event's metadata under `imported_from`.

\b
Running it again changes nothing: events already stored (same ids) are
counted as such, not appended twice. The database is created if missing and
migrated. Without --service, the service is the one whose contracts
produce every event type of the file.

\b
Safety rule: the target database's name must contain "scratch" and must not
be the database named by $DATABASE_URL (default `carnet`); otherwise the
import is refused, before anything is created, unless --force.
"""


@replay.command("publish", help=PUBLISH_HELP)
@click.option("--service", type=click.Choice(SERVICES), required=True, help="Whose history.")
@click.option(
    "--from-position", type=click.IntRange(min=0), required=True, help="First position (incl.)."
)
@click.option("--to-position", type=click.IntRange(min=0), default=None, help="Last (inclusive).")
@click.option("--type", "types", multiple=True, help="Only this event type (repeatable).")
@click.option("--stream", "streams", multiple=True, help="Only this stream id (repeatable).")
@click.option("--to-queue", "queue", required=True, help="The one consumer queue to deliver to.")
@click.option("--dry-run", is_flag=True, help="Say what would be sent; send nothing.")
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--database-url", default=None, help="Defaults to $DATABASE_URL.")
@click.option("--amqp-uri", default=None, help="Broker and vhost; defaults to $AMQP_URI.")
def publish_cmd(
    service: str,
    from_position: int,
    to_position: int | None,
    types: tuple[str, ...],
    streams: tuple[str, ...],
    queue: str,
    dry_run: bool,
    batch_size: int,
    database_url: str | None,
    amqp_uri: str | None,
) -> None:
    import psycopg

    from services.common.eventstore.store import EventStore
    from services.common.relay.routing import routing_key_for
    from services.ops.replay_publish import (
        RateReporter,
        ReplayPublishError,
        Slice,
        check_queue,
        plan,
        preview,
        publish,
    )

    if to_position is not None and to_position < from_position:
        raise click.BadParameter("--to-position is before --from-position")
    settings = Settings.from_env()
    database_url = database_url or settings.database_url
    amqp_uri = amqp_uri or settings.amqp_uri
    selection = Slice(from_position, to_position, frozenset(types), frozenset(streams))
    store = EventStore(lambda: psycopg.connect(database_url), service)
    try:
        depth = check_queue(amqp_uri, queue)
        where = plan(store, database_url, selection)
        click.echo(
            f"{where.total} events of {service} selected for {queue!r} (queue holds {depth} now)",
            err=True,
        )
        if where.held_back:
            click.echo(
                f"warning: {where.held_back} committed events are not readable yet (a writing "
                "transaction older than them still runs on the PostgreSQL server, ADR 0003) "
                "and are not included; run again once it ends",
                err=True,
            )
        if dry_run:
            _report(preview(store, selection, where), "would send", queue)
            return
        reporter = RateReporter(where.total, lambda text: click.echo(text, err=True))
        summary = publish(
            store,
            selection,
            where,
            service=service,
            queue=queue,
            amqp_uri=amqp_uri,
            routing_key_for=routing_key_for,
            progress=reporter,
            batch_size=batch_size,
        )
        click.echo(reporter.line(summary.count), err=True)
    except ReplayPublishError as exc:
        raise click.ClickException(str(exc)) from exc
    _report(summary, "sent", queue)


def _report(summary: Summary, verb: str, queue: str) -> None:
    click.echo(f"{verb} {summary.count} events to {queue!r}")
    if summary.count:
        click.echo(
            f"positions: first {summary.first_position}, last {summary.last_position} "
            f"(log order); streams: {len(summary.streams)}"
        )
        for event_type, n in sorted(summary.types.items(), key=lambda kv: (-kv[1], kv[0])):
            click.echo(f"  {n:>8}  {event_type}")


@replay.command("import", help=IMPORT_HELP)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--database-url", required=True, help="The scratch database to load into.")
@click.option("--service", type=click.Choice(SERVICES), default=None, help="Whose store.")
@click.option("--force", is_flag=True, help="Skip the scratch-name rule (see above).")
def import_cmd(file: Path, database_url: str, service: str | None, force: bool) -> None:
    from psycopg_pool import ConnectionPool

    from services.common.eventstore.migrate import ensure_database, migrate
    from services.common.eventstore.store import EventStore
    from services.ops.replay_import import (
        ImportRefused,
        database_name,
        import_events,
        infer_service,
        read_export,
        scan,
        scratch_refusal,
    )
    from services.ops.replay_publish import RateReporter

    refusal = scratch_refusal(database_url, Settings.from_env().database_url)
    if refusal and not force:
        raise click.ClickException(f"refused: {refusal}. Use a scratch database, or --force.")
    try:
        found = scan(file)
        service = service or infer_service(found)
        created = ensure_database(database_url)
        migrate(database_url, [service])
        name = database_name(database_url)
        click.echo(
            f"{'created' if created else 'using'} {name!r}; importing {found.count} events of "
            f"{found.streams} streams into {service}",
            err=True,
        )
        reporter = RateReporter(found.count, lambda t: click.echo(t, err=True), "imported")
        with ConnectionPool(database_url, min_size=1, max_size=1) as pool:
            summary = import_events(EventStore(pool, service), read_export(file), progress=reporter)
    except ImportRefused as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"imported {summary.appended} events, {summary.already_stored} already stored, "
        f"{len(summary.streams)} streams, into {name}/{service}"
    )

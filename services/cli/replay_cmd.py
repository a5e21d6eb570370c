"""`carnet replay`: a stream as of an instant, or the log as NDJSON, for engineers."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

import click

from services.cli.errors import CarnetGroup
from services.common.config import SERVICES, Settings


def _store(service: str, database_url: str | None) -> Any:
    import psycopg

    from services.common.eventstore.store import EventStore

    url = database_url or Settings.from_env().database_url
    return EventStore(lambda: psycopg.connect(url), service)


def _instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no time zone (add Z or +01:00)")
    return when


@click.group(cls=CarnetGroup)
def replay() -> None:
    """Replay event history: read streams and exports; re-deliver; import into a scratch DB."""


@replay.command("stream")
@click.argument("stream_id")
@click.option("--service", type=click.Choice(SERVICES), required=True, help="Whose store.")
@click.option("--as-of", default=None, help="ISO instant with zone: the stream as it was then.")
@click.option("--to-version", type=int, default=None, help="Stop at this stream version.")
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="json")
@click.option("--database-url", default=None, help="Defaults to $DATABASE_URL.")
def stream(
    stream_id: str,
    service: str,
    as_of: str | None,
    to_version: int | None,
    fmt: str,
    database_url: str | None,
) -> None:
    """Print STREAM_ID's events, decoded and upcast through the contracts."""
    from services.ops.replay import stream_events

    events = stream_events(_store(service, database_url), stream_id, _instant(as_of), to_version)
    if not events:
        raise click.ClickException(f"no events in {stream_id!r} (as of {as_of or 'now'})")
    if fmt == "json":
        for event in events:
            click.echo(json.dumps(event, default=str))
        return
    click.echo(f"{'ver':>4}  {'recorded_at':<32}  {'type':<28}  stored->latest  event_id")
    for e in events:
        click.echo(
            f"{e['stream_version']:>4}  {e['recorded_at']:<32}  {e['type']:<28}  "
            f"v{e['stored_version']}->v{e['version']:<8}  {e['event_id']}"
        )


@replay.command("export")
@click.option("--service", type=click.Choice(SERVICES), required=True, help="Whose log.")
@click.option("--from", "since", default=None, help="ISO instant with zone (inclusive).")
@click.option("--to", "until", default=None, help="ISO instant with zone (exclusive).")
@click.option("--output", type=click.Path(allow_dash=True), default="-", show_default=True)
@click.option("--database-url", default=None, help="Defaults to $DATABASE_URL.")
def export(
    service: str, since: str | None, until: str | None, output: str, database_url: str | None
) -> None:
    """Write SERVICE's events as newline-delimited JSON, in global-log order."""
    from services.ops.replay import export_events
    from services.ops.replay_publish import RateReporter

    events = export_events(_store(service, database_url), _instant(since), _instant(until))
    out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115
    progress = RateReporter(None, lambda t: click.echo(t, err=True), "exported", unit="events")
    count = 0
    try:
        for event in events:
            out.write(json.dumps(event, default=str) + "\n")
            count += 1
            progress(count)  # a line on stderr each second, from the first second on
    finally:
        if out is not sys.stdout:
            out.close()
    click.echo(f"exported {count} events", err=True)
